"""Typed errors: each carries what the caller needs to decide what to do next."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genmill.client.models import Task


class GenmillError(Exception):
    """Base of every error the client raises."""


class ServerUnreachable(GenmillError):
    """No HTTP answer at all: refused, reset, DNS, timeout."""


class ProtocolError(GenmillError):
    """The server answered, but not in a shape this client understands."""


class EventsUnsupported(ProtocolError):
    """The server has no event stream for tasks (a plain Siray server): poll instead."""


class APIError(GenmillError):
    """A non-2xx answer; `status` is the HTTP status, `message` the server's own words."""

    def __init__(self, status: int, message: str, code: str = "",
                 body: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.code = code
        self.body = body
        self.headers = headers or {}


class BadRequest(APIError):
    """400, 413, 422: the request itself is wrong (the message names the field)."""


class AuthError(APIError):
    """401 or 403: the API key is missing, unknown or not allowed."""


class NotFound(APIError):
    """404: no such task (or it belongs to another key)."""


class RateLimited(APIError):
    """429; `retry_after` is the server's Retry-After in seconds, when it sent one."""

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class ServerError(APIError):
    """5xx: the server failed; worth retrying later."""


class TaskFailed(GenmillError):
    """The task ended in FAILURE; `task.fail_reason` says why."""

    def __init__(self, task: Task) -> None:
        super().__init__(f"task {task.id} failed: {task.fail_reason or 'no reason given'}")
        self.task = task


class WaitTimeout(GenmillError):
    """wait() gave up before the task finished; `task` is the last state seen."""

    def __init__(self, task: Task | None, timeout: float) -> None:
        where = f"task {task.id} still {task.status.value}" if task else "no status yet"
        super().__init__(f"{where} after {timeout:g} s")
        self.task = task
        self.timeout = timeout


class DownloadError(GenmillError):
    """A download ended short, grew past its size, or got a Range answer that does not fit.

    The partial `.part` file is kept so the next attempt resumes from it.
    """
