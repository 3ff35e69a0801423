"""Rendering tasks and models for people: tables on a terminal, wide plain rows elsewhere."""

from __future__ import annotations

from datetime import datetime

from rich import box
from rich.console import Console
from rich.table import Table

from genmill.client import Model, Task, TaskPage


def stdout_console() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal:
        # A pipe has no width of its own; Rich's 80 would squeeze every column. Ids never
        # wrap (their columns are no_wrap), so grep and awk still find them whole.
        console.width = 160
    return console


def when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def elapsed(task: Task) -> str:
    if not task.start_time:
        return "-"
    end = task.finish_time or datetime.now(task.start_time.tzinfo)
    return f"{(end - task.start_time).total_seconds():.0f}s"


def task_table(page: TaskPage) -> Table:
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("task", no_wrap=True)
    for name in ("kind", "model", "status", "progress", "submitted", "took",
                 "outputs / reason"):
        table.add_column(name)
    for task in page.tasks:
        detail = task.fail_reason if task.failed else str(len(task.outputs))
        table.add_row(task.id, task.kind.value if task.kind else "-", task.model or "-",
                      task.status.value, f"{task.progress}%", when(task.submit_time),
                      elapsed(task), detail)
    pages = max(1, -(-page.total // page.page_size))
    table.caption = f"page {page.page} of {pages}, {page.total} tasks"
    return table


def task_lines(task: Task) -> list[str]:
    lines = [
        f"task:      {task.id}",
        f"kind:      {task.kind.value if task.kind else '-'}",
        f"model:     {task.model or '-'}",
        f"status:    {task.status.value}",
        f"progress:  {task.progress}%",
        f"submitted: {when(task.submit_time)}",
        f"started:   {when(task.start_time)}",
        f"finished:  {when(task.finish_time)}",
        f"took:      {elapsed(task)}",
    ]
    if task.fail_reason:
        lines.append(f"failed:    {task.fail_reason}")
    lines.extend(f"output:    {url}" for url in task.outputs)
    return lines


def model_table(models: list[Model], loaded_on: dict[str, list[str]] | None = None) -> Table:
    """The models; with `loaded_on` (a server's answer), where each one is loaded."""
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("model", no_wrap=True)
    for name in ("mode", "kind", "params", "description"):
        table.add_column(name)
    if loaded_on is not None:
        table.add_column("loaded on")
    for model in models:
        row = [model.id, model.mode, model.kind.value if model.kind else "-",
               ", ".join(model.param_names()), model.description]
        if loaded_on is not None:
            row.append(", ".join(loaded_on.get(model.id, [])) or "-")
        table.add_row(*row)
    return table
