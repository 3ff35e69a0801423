"""The upstream answers the relay runner tells apart (raised by the relays and by
relays/http.py, handled in worker/relay_task.py)."""

from __future__ import annotations


class UpstreamError(Exception):
    """The upstream said no for good (a 4xx, a malformed answer): the task fails."""


class UpstreamRefused(UpstreamError):
    """401 or 403: the key in the named environment variable is wrong or missing."""

    def __init__(self, status: int) -> None:
        super().__init__(f"upstream refused the key (HTTP {status})")


class UpstreamUnavailable(Exception):
    """429, 5xx or no connection: worth retrying after `retry_after` seconds (or the
    runner's backoff)."""

    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
