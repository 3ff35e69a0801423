"""What the client commands share: connection options, exit codes, error reporting."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from genmill.client import (
    AuthError,
    BadRequest,
    Client,
    DownloadError,
    GenmillError,
    NotFound,
    ProtocolError,
    ServerError,
    ServerUnreachable,
    TaskFailed,
)

# Exit codes, as documented in every command's help.
OK, TASK_FAILED, USAGE, SERVER, INTERRUPTED = 0, 1, 2, 3, 130
EXIT_CODES = ("Exit codes: 0 success, 1 task failed, 2 usage error (bad option, unknown "
              "task or model), 3 server unreachable, auth refused or server failing, "
              "130 interrupted.")

Url = Annotated[str | None, typer.Option(
    "--url", envvar="GENMILL_URL", show_envvar=True,
    help="Server URL. [default: http://127.0.0.1:8080]",
)]
ApiKey = Annotated[str | None, typer.Option(
    "--api-key", envvar="GENMILL_API_KEY", show_envvar=True,
    help="API key (sent as Authorization: Bearer).",
)]
JsonOut = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


def client(url: str | None, api_key: str | None,
           poll_interval: float | None = None) -> Client:
    return Client(url, api_key, poll_interval=poll_interval)


ERROR_KINDS = {TASK_FAILED: "task_failed", USAGE: "usage", SERVER: "server",
               INTERRUPTED: "interrupted"}


def error_document(message: str, code: int) -> dict[str, Any]:
    """What --json prints on stdout when a command fails."""
    return {"error": {"kind": ERROR_KINDS.get(code, "error"), "message": message,
                      "exit_code": code}}


def json_requested() -> bool:
    """Whether this command line asks for --json. Read from argv, not the parsed options,
    so that it holds for errors found before the options are parsed, too."""
    return "--json" in sys.argv[1:]


def fail(message: str, code: int, *, json_error: bool = True) -> typer.Exit:
    """One line on stderr and the exit code; with --json also an error document on
    stdout, so a script always reads JSON there (`json_error=False` where the command
    already printed its JSON answer)."""
    if json_error and json_requested():
        print_json(error_document(message, code))
    typer.echo(f"genmill: {message}", err=True)
    return typer.Exit(code)


def exit_code(error: GenmillError) -> int:
    if isinstance(error, TaskFailed):
        return TASK_FAILED
    # A server that fails, answers in another protocol or breaks off downloads is as good
    # as unreachable for a script: retrying later may help, changing the command won't.
    if isinstance(error, ServerUnreachable | AuthError | ServerError | ProtocolError
                  | DownloadError):
        return SERVER
    if isinstance(error, BadRequest | NotFound):
        return USAGE
    return TASK_FAILED


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn client errors into one line on stderr and the documented exit code."""
    try:
        yield
    except ServerUnreachable as error:
        raise fail(f"server unreachable: {error}", SERVER) from None
    except AuthError as error:
        raise fail(f"auth refused (HTTP {error.status}): {error.message}; "
                   "check --api-key / GENMILL_API_KEY", SERVER) from None
    except ServerError as error:
        raise fail(f"server error (HTTP {error.status}): {error.message}", SERVER) from None
    except GenmillError as error:
        message = getattr(error, "message", None) or str(error)
        raise fail(message, exit_code(error)) from None
    except (FileNotFoundError, ValueError) as error:  # bad local input, e.g. --image
        raise fail(str(error), USAGE) from None


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()
