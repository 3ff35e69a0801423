"""The `genmill` command."""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from genmill.commands import register
from genmill.commands.common import error_document, json_requested, print_json
from genmill.config import InvalidSettings, Settings, is_loopback_host, settings_from_flags
from genmill.logs import setup_logging

app = typer.Typer(
    help="genmill: a self-hosted server for asynchronous image, video and 3D generation.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


def _settings(**flags: object) -> Settings:
    try:
        return settings_from_flags(**flags)
    except InvalidSettings as exc:  # a bad GENMILL_* value: say which, no traceback
        typer.echo(f"genmill: invalid settings: {exc}", err=True)
        raise typer.Exit(2) from None


def _migrate(parts) -> None:
    try:
        parts.database.migrate()
    finally:
        parts.close()


def _check_models(settings: Settings, with_workers: bool = True) -> None:
    """A bad models file stops the start, with the file, entry and key named; so does a
    model pinned to a GPU that none of this process's workers has (an API-only process
    has none, and checks nothing of GPUs)."""
    from genmill.components import Components
    from genmill.engines.models_file import ModelsFileError
    from genmill.worker import pools

    try:
        registry = Components(settings).registry
        registry.models()
    except ModelsFileError as exc:
        typer.echo(f"genmill: {exc}", err=True)
        raise typer.Exit(2) from None
    gpus = pools.gpu_indexes(settings, registry) if with_workers else []
    unserved = pools.unserved_models(registry, gpus)
    if unserved:
        typer.echo(f"genmill: no worker here has the GPU of {', '.join(unserved)}: this "
                   f"process's GPUs are {', '.join(map(str, gpus))} (GENMILL_GPUS)", err=True)
        raise typer.Exit(2)


DataDir = Annotated[Path | None, typer.Option(
    "--data-dir",
    help="Where the database (SQLite) and outputs live. "
    "[env: GENMILL_DATA_DIR; default: ./genmill-data]",
)]
Workers = Annotated[int | None, typer.Option(
    "--workers", min=0,
    help="Worker processes. [env: GENMILL_WORKERS; default: CPU cores]",
)]
Gpus = Annotated[str | None, typer.Option(
    "--gpus", help="GPU indexes, one worker each, for models that want a GPU: '0,1', or "
    "'none'. [env: GENMILL_GPUS; default: every visible CUDA device]",
)]
LogJson = Annotated[bool | None, typer.Option(
    "--log-json/--log-text", help="Machine-readable JSON logs."
)]


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind. [default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port. [default: 8080]")] = None,
    data_dir: DataDir = None,
    workers: Workers = None,
    gpus: Gpus = None,
    log_json: LogJson = None,
) -> None:
    """Run the HTTP API and N worker processes until Ctrl-C / SIGTERM.

    Example: `genmill serve --port 8080 --workers 2`
    """
    settings = _settings(host=host, port=port, data_dir=data_dir, workers=workers,
                         gpus=gpus, log_json=log_json)
    setup_logging(settings.log_json)
    if not settings.api_keys and not is_loopback_host(settings.host):
        typer.echo(
            f"genmill: refusing to serve on {settings.host} with no API keys: anyone who can "
            "reach it could use it. Set GENMILL_API_KEYS=name:key,... or bind 127.0.0.1.",
            err=True,
        )
        raise typer.Exit(2)
    from genmill.server import pick_server, run_http
    from genmill.startup.banner import banner_lines
    from genmill.startup.port import PortUnavailable, claim

    server = pick_server(settings.server)
    try:  # before the workers start: a taken port is one line, not a shared socket
        listener = claim(settings.host, settings.port)
    except PortUnavailable as exc:
        typer.echo(f"genmill: {exc}", err=True)
        raise typer.Exit(2) from None
    _announce(banner_lines(settings, listener, server), settings.log_json)
    from genmill.components import Components
    from genmill.lifetime import mark_server_process
    from genmill.worker.supervisor import Supervisor

    _check_models(settings, with_workers=settings.workers > 0)
    try:
        _migrate(Components(settings, pool_size=1))
        # uvicorn re-raises the SIGTERM it caught once it has stopped serving; with the
        # default action that would end this process before the workers are stopped.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        mark_server_process()
        supervisor = Supervisor(settings, settings.workers)
        supervisor.start()
        # What this process built to start (imports, the registry) lives until it exits:
        # keep the collector off it. Else the interpreter's last collection, at exit,
        # walked all of it and took 1.5-2 s of a SIGTERM's stop on a loaded machine.
        gc.freeze()
        try:
            run_http(settings, server, listener.address)
        except PortUnavailable as exc:  # taken between our check and the real bind
            typer.echo(f"genmill: {exc}", err=True)
            raise typer.Exit(2) from None
        finally:
            supervisor.stop()
    finally:
        listener.release()


def _announce(lines: list[str], as_json: bool) -> None:
    """The first lines a user sees; with --log-json they are log records like the rest."""
    if as_json:
        log = logging.getLogger("genmill")
        for line in lines:
            log.info(line.strip())
    else:
        typer.echo("\n".join(lines), err=True)


def _exit_on_sigterm(*_: object) -> None:
    raise SystemExit(0)


@app.command()
def worker(
    data_dir: DataDir = None,
    workers: Workers = None,
    gpus: Gpus = None,
    log_json: LogJson = None,
) -> None:
    """Run worker processes only, against the same database as a `genmill serve`.

    Example: `GENMILL_DATABASE_URL=postgresql://db/genmill genmill worker --workers 4`
    """
    settings = _settings(data_dir=data_dir, workers=workers, gpus=gpus, log_json=log_json)
    setup_logging(settings.log_json)
    from genmill.components import Components
    from genmill.worker.supervisor import Supervisor

    _check_models(settings)
    _migrate(Components(settings, pool_size=1))
    supervisor = Supervisor(settings, max(1, settings.workers))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    supervisor.start()
    stop.wait()
    supervisor.stop()


# The client commands (generate, tasks, open, models) live in genmill/commands/.
register(app)


def main() -> None:
    if not json_requested():
        app()
        return
    # With --json a usage error (unknown option, missing value) is a JSON document on
    # stdout too, as every other failure of a --json command is (commands/common.fail).
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as error:  # typer's (vendored) click usage errors
        message = error.format_message().replace("Value error, ", "", 1)
        print_json(error_document(message, error.exit_code))
        typer.echo(f"genmill: {message}", err=True)
        sys.exit(error.exit_code)
    except typer.Abort:
        typer.echo("genmill: aborted", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
