"""`genmill tasks ls|show|watch|cancel|rm`: the tasks of this API key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genmill.client import NotFound
from genmill.commands.common import (
    EXIT_CODES,
    USAGE,
    ApiKey,
    JsonOut,
    Url,
    client,
    fail,
    print_json,
    reported_errors,
)
from genmill.commands.generate import CancelOnInterrupt, PollInterval, Timeout, report
from genmill.commands.tables import stdout_console, task_lines, task_table
from genmill.commands.watching import follow

app = typer.Typer(help="List, inspect, follow and remove tasks.", no_args_is_help=True,
                  epilog=EXIT_CODES)
TaskId = Annotated[str, typer.Argument(help="The task id, e.g. image_3f2a….")]
STATES = ("running", "success", "failed")


@app.command("ls", epilog=EXIT_CODES)
def ls(
    state: Annotated[str | None, typer.Option(
        "--state", help="Only tasks that are running, success or failed (or 4, 1, -1).",
    )] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="image, video or 3d.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Only this model's tasks.")] = None,
    page: Annotated[int, typer.Option("--page", min=1)] = 1,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=100)] = 20,
    as_json: JsonOut = False,
    url: Url = None,
    api_key: ApiKey = None,
) -> None:
    """List tasks, newest first.

    Example: `genmill tasks ls --state failed --kind video`
    """
    if state is not None and state not in (*STATES, "4", "1", "-1"):
        raise fail(f"--state: must be one of {', '.join(STATES)} (or 4, 1, -1)", USAGE)
    with reported_errors(), client(url, api_key) as gm:
        result = gm.list(page, page_size, state=state, kind=kind, model=model)
    if as_json:
        print_json({"tasks": [t.to_dict() for t in result.tasks], "total": result.total,
                    "page": result.page, "page_size": result.page_size})
    else:
        stdout_console().print(task_table(result))


@app.command("show", epilog=EXIT_CODES)
def show(task_id: TaskId, as_json: JsonOut = False, url: Url = None,
         api_key: ApiKey = None) -> None:
    """Show one task: status, progress, times, output URLs or why it failed.

    Example: `genmill tasks show video_0a1b2c…`
    """
    with reported_errors(), client(url, api_key) as gm:
        try:
            task = gm.get(task_id, detail=True)
        except NotFound:  # a server without the local task API still has the Siray one
            task = gm.get(task_id)
    if as_json:
        print_json(task.to_dict())
    else:
        typer.echo("\n".join(task_lines(task)))


@app.command("watch", epilog=EXIT_CODES)
def watch(
    task_id: TaskId,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Download the outputs here on success (else print their URLs).",
    )] = None,
    timeout: Timeout = None,
    poll_interval: PollInterval = None,
    cancel_on_interrupt: CancelOnInterrupt = False,
    as_json: JsonOut = False,
    url: Url = None,
    api_key: ApiKey = None,
) -> None:
    """Follow a task until it ends; exit 1 if it failed.

    Example: `genmill tasks watch 3d_0a1b2c… --out models/`
    """
    with reported_errors(), client(url, api_key, poll_interval) as gm:
        task = follow(gm, task_id, timeout=timeout, quiet=as_json,
                      cancel_on_interrupt=cancel_on_interrupt)
        files = gm.download(task, out) if out is not None and task.succeeded else []
    if out is None and not as_json:
        for output in task.outputs:  # nothing downloaded: the URLs are the result
            typer.echo(output)
    report(task, files, as_json)


@app.command("cancel", epilog=EXIT_CODES)
def cancel(task_id: TaskId, as_json: JsonOut = False, url: Url = None,
           api_key: ApiKey = None) -> None:
    """Cancel a queued or running task (it ends as FAILURE, its record stays).

    Example: `genmill tasks cancel image_0a1b2c…`
    """
    with reported_errors(), client(url, api_key) as gm:
        task = gm.cancel(task_id)
    if as_json:
        print_json(task.to_dict())
    else:
        typer.echo(f"{task.id} {task.status.value}")


@app.command("rm", epilog=EXIT_CODES)
def rm(
    task_ids: Annotated[list[str], typer.Argument(help="One or more task ids.")],
    url: Url = None,
    api_key: ApiKey = None,
) -> None:
    """Delete tasks and their files (a running task is canceled first).

    Example: `genmill tasks rm image_0a1b2c… video_9f8e7d…`
    """
    missing = 0
    with reported_errors(), client(url, api_key) as gm:
        for task_id in task_ids:
            try:
                gm.delete(task_id)
            except NotFound as error:
                missing += 1
                typer.echo(f"genmill: {error.message}", err=True)
                continue
            typer.echo(f"deleted {task_id}")
    if missing:
        raise typer.Exit(USAGE)
