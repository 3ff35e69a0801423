"""`genmill generate image|video|3d`: submit, follow, download."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from genmill.client import Kind, Task
from genmill.commands.common import (
    INTERRUPTED,
    TASK_FAILED,
    USAGE,
    ApiKey,
    JsonOut,
    Url,
    client,
    fail,
    print_json,
    reported_errors,
)
from genmill.commands.watching import follow, interrupted

PollInterval = Annotated[float | None, typer.Option(
    "--poll-interval", min=0.01,
    help="Seconds between status polls. [default: 3-5 s image/video, 5-10 s 3D]",
)]
Timeout = Annotated[float | None, typer.Option(
    "--timeout", min=0, help="Give up waiting after this many seconds (exit 1).",
)]
CancelOnInterrupt = Annotated[bool, typer.Option(
    "--cancel-on-interrupt", help="On Ctrl-C cancel the task instead of leaving it running.",
)]


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """key=value pairs; a value that reads as JSON (3, true, [1,2]) is sent as such."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise fail(f"--param {pair!r}: expected key=value", USAGE)
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        params[key.strip()] = value
    return params


def default_out(task_id: str) -> Path:
    return Path("genmill-out") / task_id


def report(task: Task, files: list[Path], as_json: bool) -> None:
    """The final word: output paths (or the failure) on stdout/stderr, and the exit code."""
    if as_json:
        print_json({"task": task.to_dict(), "files": [str(p) for p in files]})
    else:
        for path in files:
            typer.echo(str(path))
    if task.failed:
        raise fail(f"task {task.id} failed: {task.fail_reason or 'no reason given'}",
                   TASK_FAILED, json_error=False)  # the task document says FAILURE


def generate(
    kind: Annotated[Kind, typer.Argument(help="What to make: image, video or 3d.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Model id (see `genmill models`).")],
    prompt: Annotated[str | None, typer.Option("--prompt", "-p", help="Text prompt.")] = None,
    image: Annotated[str | None, typer.Option(
        "--image", "-i", help="Input image: a local file (sent inline) or an http(s) URL.",
    )] = None,
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-P", help="A model parameter, key=value (repeatable), e.g. seed=42.",
    )] = None,
    wait: Annotated[bool, typer.Option(
        "--wait/--no-wait", help="Follow the task and download its outputs, or only print "
        "its id.",
    )] = True,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Where outputs go. [default: ./genmill-out/TASK_ID]",
    )] = None,
    webhook: Annotated[str | None, typer.Option(
        "--webhook", help="An http(s) URL the server sends the task's events to, signed "
        "(Standard Webhooks; see docs/webhooks.md).",
    )] = None,
    webhook_events: Annotated[list[str] | None, typer.Option(
        "--webhook-event", help="Which events go to --webhook: start, progress, completed "
        "(repeatable). [default: completed]",
    )] = None,
    timeout: Timeout = None,
    poll_interval: PollInterval = None,
    cancel_on_interrupt: CancelOnInterrupt = False,
    as_json: JsonOut = False,
    url: Url = None,
    api_key: ApiKey = None,
) -> None:
    """Submit a generation task, show its progress, download its outputs.

    Prints the downloaded files' paths (or, with `--no-wait`, the task id).

    Example: `genmill generate image -m genmill/title-card-t2i -p "Sunset Sessions" -P seed=42`
    """
    params = parse_params(param or [])
    task_id: str | None = None
    with reported_errors(), client(url, api_key, poll_interval) as gm:
        try:
            task_id = gm.submit(kind, model, prompt, image, webhook=webhook,
                                webhook_events_filter=webhook_events or None, **params)
        except KeyboardInterrupt:
            raise fail("interrupted; no task id came back", INTERRUPTED) from None
        if not wait:
            if as_json:
                print_json({"task_id": task_id, "model": model})
            else:
                typer.echo(task_id)
            return
        if not as_json:
            typer.echo(f"submitted {task_id}", err=True)
        try:
            task = follow(gm, task_id, timeout=timeout, quiet=as_json,
                          cancel_on_interrupt=cancel_on_interrupt)
        except KeyboardInterrupt:  # between polls follow() handles it; this is the edges
            raise interrupted(gm, task_id, cancel_on_interrupt) from None
        # A Siray status does not name the model; the one this command submitted is it.
        task = replace(task, model=task.model or model)
        dest = out or default_out(task_id)
        try:
            files = gm.download(task, dest) if task.succeeded else []
        except KeyboardInterrupt:  # the task is done; a rerun resumes the .part files
            raise fail(f"interrupted while downloading; task {task_id} is done. Resume with: "
                       f"genmill tasks watch {task_id} --out {dest}", INTERRUPTED) from None
    report(task, files, as_json)

