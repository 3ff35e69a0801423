"""Following a task: a Rich bar on a terminal, one plain line per change elsewhere."""

from __future__ import annotations

import time

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from genmill.client import Client, GenmillError, Task, WaitTimeout
from genmill.commands.common import INTERRUPTED, TASK_FAILED, fail


class ProgressView:
    """Shows each status the client sees; stays silent when `quiet` (--json)."""

    def __init__(self, task_id: str, quiet: bool = False) -> None:
        self.task_id = task_id
        self.quiet = quiet
        self.console = Console(stderr=True)
        self.started = time.monotonic()
        self._bar: Progress | None = None
        self._bar_task = None
        self._last: tuple[str, int] | None = None

    def __enter__(self) -> ProgressView:
        if not self.quiet and self.console.is_terminal:
            self._bar = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                TaskProgressColumn(), TimeElapsedColumn(), console=self.console,
                transient=False,
            )
            self._bar.start()
            self._bar_task = self._bar.add_task(f"{self.task_id} submitted", total=100)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(self, task: Task) -> None:
        if self.quiet:
            return
        if self._bar is not None and self._bar_task is not None:
            self._bar.update(self._bar_task, completed=task.progress,
                             description=f"{task.id} {task.status.value}")
            return
        state = (task.status.value, task.progress)
        if state != self._last:  # one line per change: readable in logs and CI
            self._last = state
            elapsed = time.monotonic() - self.started
            self.console.print(f"{task.id} {task.status.value} {task.progress}% "
                               f"{elapsed:.1f}s", highlight=False, soft_wrap=True)


def follow(gm: Client, task_id: str, *, timeout: float | None, quiet: bool,
           cancel_on_interrupt: bool) -> Task:
    """wait() with a view. Ctrl-C exits 130 naming the task, or cancels it if asked."""
    try:
        with ProgressView(task_id, quiet) as view:
            return gm.wait(task_id, timeout, on_update=view.update)
    except KeyboardInterrupt:
        raise interrupted(gm, task_id, cancel_on_interrupt) from None
    except WaitTimeout as error:
        raise fail(f"{error}; follow it with: genmill tasks watch {task_id}",
                   TASK_FAILED) from None


def interrupted(gm: Client, task_id: str, cancel: bool) -> typer.Exit:
    if not cancel:
        return fail(f"interrupted; task {task_id} keeps running. "
                    f"Follow it with: genmill tasks watch {task_id}", INTERRUPTED)
    try:
        gm.cancel(task_id)
    except GenmillError as error:
        return fail(f"interrupted; could not cancel task {task_id}: {error}", INTERRUPTED)
    return fail(f"interrupted; canceled task {task_id}", INTERRUPTED)
