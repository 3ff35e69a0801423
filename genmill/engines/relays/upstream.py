"""What every relay shares: the protocol the relay runner drives, and one HTTP call that
turns an upstream's answer into a JSON object or one of the errors the runner tells apart
(relays/errors.py)."""

from __future__ import annotations

import email.utils
import os
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from genmill.engines.base import InputFile
from genmill.engines.relays.errors import UpstreamError, UpstreamRefused, UpstreamUnavailable
from genmill.engines.relays.http import Reply, UpstreamHTTP

State = Literal["waiting", "running", "success", "failure"]


@dataclass(frozen=True)
class Poll:
    """One look at an upstream task."""

    state: State
    progress: int = 0  # 0..100
    outputs: list[str] = field(default_factory=list)  # absolute URLs, in order
    fail_reason: str = ""


class Relay(Protocol):
    """One models-file entry's upstream, as the relay runner drives it."""

    upstream: str  # the name fail reasons start with
    poll_interval: float  # seconds between status requests for one task
    max_retries: int  # consecutive 429/5xx/unreachable answers before the task fails
    can_cancel: bool
    base_url: str

    def headers(self) -> dict[str, str]:
        """What authenticates a request to the upstream (read from the environment)."""
        ...

    async def submit(self, http: UpstreamHTTP, task_id: str, params: dict[str, Any],
                     inputs: dict[str, list[InputFile]]) -> str:
        """Start the upstream task; its id. `task_id` keys the submission (sent as
        Idempotency-Key where the upstream takes one)."""
        ...

    async def poll(self, http: UpstreamHTTP, upstream_id: str) -> Poll: ...

    async def cancel(self, http: UpstreamHTTP, upstream_id: str) -> bool:
        """Ask the upstream to stop the task; False when it has no way to."""
        ...

    def redact(self, text: str) -> str:
        """`text` with the upstream key taken out (an upstream may echo it)."""
        ...

    async def watch(self, http: UpstreamHTTP) -> None:
        """Runs as long as the relay runner: follows what the upstream pushes (ComfyUI's
        progress events), if anything. Returns at once where the upstream pushes nothing."""
        ...


class KeyedUpstream:
    """An upstream at `base_url` whose key is read from the environment at each call,
    so it lives only in this process's memory: never in the database, params or logs."""

    def __init__(self, base_url: str, api_key_env: str | None, upstream: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.upstream = upstream

    def key(self) -> str | None:
        if not self.api_key_env:
            return None
        value = os.environ.get(self.api_key_env, "")
        if not value:
            raise UpstreamError(f"the environment variable {self.api_key_env} (api_key_env) "
                                "is not set in the server's environment")
        return value

    def redact(self, text: str) -> str:
        value = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        return text.replace(value, "[redacted]") if len(value) >= 4 else text

    def url(self, path: str) -> str:
        return self.base_url + path

    async def watch(self, http: UpstreamHTTP) -> None:
        return None  # polling is all a Siray or MoneyPrinterTurbo upstream offers

    async def call(self, http: UpstreamHTTP, method: str, path: str,
                   headers: dict[str, str], body: dict[str, Any] | None = None) -> dict[str, Any]:
        """The JSON object an upstream answered, or one of the errors above."""
        response = await http.request(method, self.url(path), headers, json=body)
        status = response.status
        if status in (401, 403):
            raise UpstreamRefused(status)
        if status == 429 or status == 408 or status >= 500:
            raise UpstreamUnavailable(f"HTTP {status}", retry_after(response))
        try:
            document = response.json()
        except ValueError:
            document = None
        if status >= 400:
            raise UpstreamError(self.redact(f"HTTP {status}: {error_message(document)}"))
        if not isinstance(document, dict):
            raise UpstreamError(f"HTTP {status} with a body that is not a JSON object")
        return document


def error_message(document: Any) -> str:
    """The message of either error shape (Siray's `error.message`, the gateway's
    `message`), else a short form of the body."""
    if isinstance(document, dict):
        error = document.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:500]
        if document.get("message"):
            return str(document["message"])[:500]
        if document.get("detail"):
            return str(document["detail"])[:500]
    return "no message"


def retry_after(response: Reply) -> float | None:
    """Retry-After in seconds (delta or HTTP date), capped at 10 minutes."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        if parsed is None:
            return None
        seconds = parsed.timestamp() - time.time()
    return min(max(seconds, 0.0), 600.0)


def parse_percent(value: Any) -> int:
    """'45%', 45, '45' or 0.45 -> 45."""
    if isinstance(value, str):
        value = value.strip().removesuffix("%")
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0
    if 0 < number < 1 and not isinstance(value, str):
        number *= 100
    return int(min(max(number, 0), 100))
