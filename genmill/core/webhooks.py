"""Webhooks at submit (the `webhook` and `webhook_events_filter` fields), the signing
secrets, and the event body a receiver gets. Delivery is `worker/webhooks.py`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from pydantic import SecretStr

from genmill.core.errors import InvalidRequest
from genmill.core.inputs import check_remote_url
from genmill.store.webhooks import Delivery, WebhookSettings

URL_FIELD = "webhook"
FILTER_FIELD = "webhook_events_filter"
FIELDS = (URL_FIELD, FILTER_FIELD)
EVENTS = ("start", "progress", "completed")
DEFAULT_EVENTS = ("completed",)
MAX_URL_LENGTH = 2048


class WebhookSecrets:
    """Who signs with which secret: a key's own (GENMILL_WEBHOOK_SECRETS), else the
    server's (GENMILL_WEBHOOK_SECRET). Kept in memory only, never stored or logged."""

    def __init__(self, default: SecretStr | None, by_owner: dict[str, SecretStr]) -> None:
        self._default = default
        self._by_owner = by_owner

    def secret_for(self, owner: str) -> str | None:
        secret = self._by_owner.get(owner, self._default)
        return secret.get_secret_value() if secret is not None else None


def requested(body: dict[str, Any], base_url: str, allow_private: bool,
              secrets: WebhookSecrets, owner: str) -> WebhookSettings | None:
    """Pop the webhook fields from a submit body (they are not model params) and check
    them: a bad value is a 400 naming its field."""
    url = body.pop(URL_FIELD, None)
    events = body.pop(FILTER_FIELD, None)
    if url is None or url == "":
        if events is not None:
            raise InvalidRequest(f"{FILTER_FIELD}: needs a `webhook` URL", FILTER_FIELD)
        return None
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH or any(
            ch.isspace() or ord(ch) < 0x20 for ch in url):
        raise InvalidRequest(f"{URL_FIELD}: must be an http(s) URL of at most "
                             f"{MAX_URL_LENGTH} characters", URL_FIELD)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(f"{URL_FIELD}: must be an http(s) URL", URL_FIELD)
    check_remote_url(url, URL_FIELD, allow_private)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidRequest(f"{URL_FIELD}: the URL's port is not a number from 0 to 65535",
                             URL_FIELD) from None
    if secrets.secret_for(owner) is None:
        raise InvalidRequest(f"{URL_FIELD}: this server has no webhook signing secret for "
                             "your key (its operator sets GENMILL_WEBHOOK_SECRET)", URL_FIELD)
    return WebhookSettings(url=url, receiver=f"{parts.hostname}:{port}",
                           events=_events(events), base_url=base_url)


def _events(value: Any) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_EVENTS
    if (not isinstance(value, list) or not value
            or not all(isinstance(item, str) and item in EVENTS for item in value)):
        raise InvalidRequest(f"{FILTER_FIELD}: must be a non-empty list of "
                             f"{', '.join(EVENTS)}", FILTER_FIELD)
    return tuple(event for event in EVENTS if event in value)


def rfc3339(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


def status_data(delivery: Delivery) -> dict[str, Any]:
    """The Siray status document's `data` as it stood when the event happened (the same
    fields and forms as `api/siray.status_document`; a test holds them equal)."""
    return {
        "task_id": delivery.task_id,
        "action": delivery.action,
        "status": delivery.status,
        "progress": f"{delivery.progress}%",
        "outputs": [f"{delivery.base_url}/tasks/{delivery.task_id}/{quote(name)}"
                    for name in delivery.outputs],
        "start_time": int(delivery.start_time or 0),
        "finish_time": int(delivery.finish_time or 0),
        "submit_time": int(delivery.submit_time or 0),
        "fail_reason": delivery.fail_reason,
    }


def event_body(delivery: Delivery) -> str:
    """The JSON a receiver gets (and the signature covers)."""
    return json.dumps({"type": delivery.event, "timestamp": rfc3339(delivery.created_at),
                       "data": status_data(delivery)},
                      ensure_ascii=False, separators=(",", ":"))
