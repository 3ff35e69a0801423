"""The client side of the `genmill` command: generate, tasks, open, models."""

from __future__ import annotations

import typer

from genmill.commands.common import EXIT_CODES


def register(app: typer.Typer) -> None:
    """Add the client commands to the `genmill` app (imports stay cheap: no server code)."""
    from genmill.commands import tasks
    from genmill.commands.generate import generate
    from genmill.commands.models import models
    from genmill.commands.open_output import open_output

    app.command("generate", epilog=EXIT_CODES)(generate)
    app.add_typer(tasks.app, name="tasks")
    app.command("open", epilog=EXIT_CODES)(open_output)
    app.command("models", epilog=EXIT_CODES)(models)
