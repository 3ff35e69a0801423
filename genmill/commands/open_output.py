"""`genmill open ID`: download a task's output and open it in the desktop's viewer."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from genmill.commands.common import (
    TASK_FAILED,
    USAGE,
    ApiKey,
    Url,
    client,
    fail,
    reported_errors,
)


def cache_dir(task_id: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "genmill" / "outputs" / task_id


def has_desktop() -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def open_output(
    task_id: Annotated[str, typer.Argument(help="The task id.")],
    index: Annotated[int, typer.Option("--index", "-n", min=1,
                                       help="Which output, when there are several.")] = 1,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Where to download. [default: ~/.cache/genmill/outputs/TASK_ID]",
    )] = None,
    url: Url = None,
    api_key: ApiKey = None,
) -> None:
    """Download a finished task's output and open it (where a desktop exists).

    Prints the file's path either way.

    Example: `genmill open image_0a1b2c… --index 2`
    """
    with reported_errors(), client(url, api_key) as gm:
        task = gm.get(task_id)
        if task.failed:
            raise fail(f"task {task.id} failed: {task.fail_reason}", TASK_FAILED)
        if not task.done:
            raise fail(f"task {task.id} is {task.status.value}; wait with: "
                       f"genmill tasks watch {task.id}", TASK_FAILED)
        if not task.outputs:
            raise fail(f"task {task.id} has no outputs", TASK_FAILED)
        if index > len(task.outputs):
            raise fail(f"--index: task {task.id} has {len(task.outputs)} outputs", USAGE)
        path = gm.download_url(task.outputs[index - 1], out or cache_dir(task.id))
    typer.echo(str(path))
    if has_desktop():
        typer.launch(str(path))
    else:
        typer.echo("genmill: no desktop to open it on; the file is at the path above", err=True)

