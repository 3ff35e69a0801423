"""Response helpers both dialects share: JSON bodies, output URLs, times, envelopes.

Dialect modules import from here, never from each other.
"""

from __future__ import annotations

import functools
import json
from typing import Any
from urllib.parse import quote

from starlette.responses import Response

from genmill.domain import Task, TaskStatus


def unix(value: float | None) -> int:
    """A time as the wire shows it: whole Unix seconds, 0 while unset."""
    return int(value) if value else 0


# Output names repeat across tasks (image-1.png, video-1.mp4): quote each once.
_quoted_name = functools.lru_cache(maxsize=4096)(quote)


def output_urls(base: str, task: Task | TaskStatus) -> list[str]:
    return [f"{base}/tasks/{task.id}/{_quoted_name(name)}" for name in task.outputs]


def json_response(content: Any, status: int = 200) -> Response:
    body = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(body, status, media_type="application/json")


def local_success(data: Any) -> Response:
    """The local task API's envelope."""
    return json_response({"status": 200, "message": "success", "data": data})


# The submit fields of a webhook (docs/webhooks.md), in both dialects' request schemas.
WEBHOOK_FIELDS = {
    "webhook": {"type": "string", "format": "uri", "description": "An http(s) URL that "
                "receives the task's events, signed as Standard Webhooks specify."},
    "webhook_events_filter": {
        "type": "array", "items": {"type": "string", "enum": ["start", "progress",
                                                              "completed"]},
        "description": "Which events to send; default [\"completed\"]."},
}
