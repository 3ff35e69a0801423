"""The HTTP conversation, free of I/O: which request to send, what an answer means.

Client and AsyncClient share this, so the two differ only in how they wait for bytes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from genmill.client._sse import Message
from genmill.client.errors import (
    APIError,
    AuthError,
    BadRequest,
    EventsUnsupported,
    NotFound,
    ProtocolError,
    RateLimited,
    ServerError,
)
from genmill.client.inputs import ImageInput, image_value
from genmill.client.models import STATE_NUMBERS, Kind, Model, Task, TaskEvent, TaskPage

DEFAULT_URL = "http://127.0.0.1:8080"
SUBMIT_PATHS = {
    Kind.IMAGE: "/v1/images/generations/async",
    Kind.VIDEO: "/v1/video/generations",
    Kind.MESH: "/v1/3d/generations",
}
# The Siray status paths are the submit paths plus the id.
STATUS_PATHS = SUBMIT_PATHS


@dataclass(frozen=True)
class Call:
    """One API request, built before any I/O happens."""

    method: str
    path: str
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)


def resolve_url(url: str | None) -> str:
    return (url or os.environ.get("GENMILL_URL") or DEFAULT_URL).rstrip("/")


def resolve_key(api_key: str | None) -> str | None:
    return api_key or os.environ.get("GENMILL_API_KEY") or None


def auth_headers(api_key: str | None) -> dict[str, str]:
    # Sent per API call, not set on the httpx client: output URLs may live on another host
    # (object storage) and must not receive the key.
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def as_kind(kind: Kind | str) -> Kind:
    try:
        return Kind(kind)
    except ValueError:
        raise ValueError(f"kind: must be image, video or 3d, not {kind!r}") from None


def submit_call(kind: Kind | str, model: str, prompt: str | None, image: ImageInput | None,
                images: list[ImageInput] | None, params: dict[str, Any],
                webhook: str | None = None,
                webhook_events_filter: list[str] | None = None) -> Call:
    body: dict[str, Any] = {"model": model}
    if prompt is not None:
        body["prompt"] = prompt
    if image is not None:
        body["image"] = image_value(image)
    if images:
        body["images"] = [image_value(item) for item in images]
    body.update(params)
    if webhook is not None:
        body["webhook"] = webhook
    if webhook_events_filter is not None:
        body["webhook_events_filter"] = list(webhook_events_filter)
    return Call("POST", SUBMIT_PATHS[as_kind(kind)], json=body)


def status_call(task_id: str, kind: Kind) -> Call:
    return Call("GET", f"{STATUS_PATHS[kind]}/{task_id}")


def list_call(page: int, page_size: int, state: str | int | None, kind: Kind | str | None,
              model: str | None) -> Call:
    params: dict[str, Any] = {"page": page, "page_size": page_size}
    if state is not None:
        params["state"] = STATE_NUMBERS.get(str(state), state)
    if kind is not None:
        params["kind"] = as_kind(kind).value
    if model:
        params["model"] = model
    return Call("GET", "/api/v1/tasks", params=params)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After is either seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error_message(response: httpx.Response) -> tuple[str, str, Any]:
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()[:300]
        return text or response.reason_phrase or "error", "", text
    if isinstance(body, dict):
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        message = body.get("message") or error.get("message") or response.reason_phrase
        code = error.get("code") or (body.get("code") if isinstance(body.get("code"), str)
                                     else "")
        return str(message), str(code or ""), body
    return response.reason_phrase or "error", "", body


def raise_for_error(response: httpx.Response) -> None:
    """A typed APIError for any non-2xx answer, carrying the server's own message."""
    if response.is_success:
        return
    message, code, body = _error_message(response)
    status = response.status_code
    args = (status, message, code, body, dict(response.headers))
    if status == 429:
        raise RateLimited(*args, retry_after=retry_after_seconds(
            response.headers.get("retry-after")))
    if status in (401, 403):
        raise AuthError(*args)
    if status == 404:
        raise NotFound(*args)
    if status in (400, 413, 422):
        raise BadRequest(*args)
    if status >= 500:
        raise ServerError(*args)
    raise APIError(*args)


def json_body(response: httpx.Response) -> dict[str, Any]:
    raise_for_error(response)
    try:
        body = response.json()
    except ValueError:
        raise ProtocolError(f"not JSON from {response.request.url}: "
                            f"{response.text[:200]!r}") from None
    if not isinstance(body, dict):
        raise ProtocolError(f"expected a JSON object from {response.request.url}")
    return body


def submitted_id(response: httpx.Response) -> str:
    body = json_body(response)
    # Both levels, as the official SDKs read it.
    task_id = body.get("task_id") or (body.get("data") or {}).get("task_id") or body.get("id")
    if not task_id:
        raise ProtocolError(f"no task_id in the submit answer: {body!r}")
    return str(task_id)


def task_of(response: httpx.Response, kind: Kind | None = None) -> Task:
    data = json_body(response).get("data")
    if not isinstance(data, dict):
        raise ProtocolError(f"no task in the answer: {response.text[:200]!r}")
    return Task.from_wire(data, kind)


def page_of(response: httpx.Response) -> TaskPage:
    data = json_body(response).get("data") or {}
    try:
        return TaskPage(
            tasks=[Task.from_wire(item) for item in data["tasks"]],
            total=int(data["total"]),
            page=int(data["page"]),
            page_size=int(data["page_size"]),
        )
    except (KeyError, TypeError) as exc:
        raise ProtocolError(f"not a task page: {exc}") from None


def models_of(response: httpx.Response) -> list[Model]:
    data = json_body(response).get("data")
    if not isinstance(data, list):
        raise ProtocolError("no model list in the answer")
    return [Model.from_wire(item) for item in data]


def workers_of(response: httpx.Response) -> list[dict[str, Any]]:
    """The workers /readyz lists: host, device and the models each holds loaded. A 503
    ("not ready") lists those it has; a server without the list gives []."""
    try:
        body = response.json()
    except ValueError:
        raise_for_error(response)
        raise ProtocolError("/readyz did not answer JSON") from None
    workers = body.get("worker_devices") if isinstance(body, dict) else None
    if not isinstance(workers, list):
        raise_for_error(response)
        return []
    return [w for w in workers if isinstance(w, dict)]


EVENT_STREAM = "text/event-stream"
RECONNECTS = 5  # consecutive failed connections before events() gives up


def events_headers(api_key: str | None, last_event_id: str | None) -> dict[str, str]:
    headers = {**auth_headers(api_key), "Accept": EVENT_STREAM}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    return headers


def check_event_stream(response: httpx.Response) -> None:
    """After reading an answer that is not an event stream: raise what it means."""
    raise_for_error(response)
    raise EventsUnsupported(f"no event stream at {response.request.url.path}")


def is_event_stream(response: httpx.Response) -> bool:
    return response.status_code == 200 and \
        response.headers.get("content-type", "").startswith(EVENT_STREAM)


def event_of(message: Message, kind: Kind | None) -> TaskEvent | None:
    """A status event as a TaskEvent; None for other event types."""
    if message.event != "status":
        return None
    try:
        data = json.loads(message.data)
    except ValueError:
        raise ProtocolError(f"an event that is not JSON: {message.data[:200]!r}") from None
    return TaskEvent(message.id, Task.from_wire(data, kind), data.get("queue_position"))


def reconnect_delay(failures: int) -> float:
    return min(5.0, 0.2 * 2 ** failures)
