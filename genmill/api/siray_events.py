"""Server-sent events (a genmill extension of the Siray dialect).

`GET /v1/tasks/{task_id}/events` streams one event per change of a task and ends after
its final one; `GET /v1/events` streams the changes of all the caller's tasks. Each
event's `id:` is the event's number; a client that reconnects with `Last-Event-ID` (or
`?last_event_id=`) gets every event after it, from the database, then the live ones.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import StreamingResponse

from genmill.api.auth import owner
from genmill.api.deps import public_base
from genmill.api.errors import ApiError
from genmill.api.event_hub import OVERFLOW, EventHubs, Subscription
from genmill.api.siray import status_document
from genmill.components import Components
from genmill.domain import Status, TaskEvent

_EVENT_STREAM = {200: {
    "description": "`text/event-stream`: `id:` the event number, `event: status`, `data:` "
                   "the status document's `data` object plus `queue_position`. A comment "
                   "line keeps the connection alive at least every 15 s.",
    # One event, as SSE parsers (and OpenAPI 3.2's itemSchema) see it.
    "content": {"text/event-stream": {"schema": {
        "type": "object",
        "properties": {"id": {"type": "string"}, "event": {"type": "string"},
                       "data": {"type": "string", "contentMediaType": "application/json"}},
    }}},
}}
_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_LAST_ID_HELP = "Last-Event-ID: must be a non-negative event number"


def last_event_id(request: Request) -> int | None:
    raw = request.headers.get("last-event-id")
    if raw is None:
        raw = request.query_params.get("last_event_id")
    if raw is None or raw.strip() == "":
        return None
    if not raw.strip().isdigit():
        raise ApiError(400, _LAST_ID_HELP)
    return int(raw)


@functools.lru_cache(maxsize=4096)
def _event_text(event: TaskEvent, base: str, position: int | None) -> bytes:
    """An event as SSE text. Cached: a change followed by many streams is rendered once."""
    data: dict[str, Any] = status_document(event, base)["data"]
    data["queue_position"] = position
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event.seq}\nevent: status\ndata: {body}\n\n".encode()


class EventRenderer:
    """Renders events for one stream; a waiting task's queue position is read once per
    event (shared by all the streams of the process)."""

    _positions: dict[int, int | None] = {}  # event seq -> position when first rendered
    _POSITIONS_KEPT = 4096

    def __init__(self, parts: Components, base: str) -> None:
        self.parts = parts
        self.base = base

    async def render(self, event: TaskEvent) -> bytes:
        position = None
        if event.status is Status.QUEUED:
            positions = EventRenderer._positions
            if event.seq in positions:
                position = positions[event.seq]
            else:
                position = await asyncio.to_thread(self.parts.service.queue_position,
                                                   event.id)
                if len(positions) >= self._POSITIONS_KEPT:
                    del positions[next(iter(positions))]
                positions[event.seq] = position
        return _event_text(event, self.base, position)


KEEPALIVE = b": keep-alive\n\n"


async def _live(sub: Subscription, keepalive: float) -> AsyncIterator[TaskEvent | None]:
    """Live events; None when `keepalive` seconds passed without one. Ends on overflow
    (the client reconnects with its last id and replays what it missed)."""
    while True:
        try:
            event = await sub.next(keepalive)
        except TimeoutError:
            yield None
            continue
        if event is OVERFLOW:
            return
        yield event


def build_router(parts: Components, hubs: EventHubs) -> APIRouter:
    router = APIRouter(tags=["Siray API"])
    settings = parts.settings
    hub = hubs.current

    @router.get("/v1/tasks/{task_id}/events", response_class=StreamingResponse,
                responses=_EVENT_STREAM,
                summary="Follow one task's changes as server-sent events (genmill extension)",
                description="The current state first (or, with `Last-Event-ID`, every "
                            "event after that one), then each change; ends after the final "
                            "event.")
    async def task_events(task_id: str, request: Request) -> StreamingResponse:
        who, after = owner(request), last_event_id(request)
        await asyncio.to_thread(parts.service.get, who, task_id)  # 404 unless the caller's
        renderer = EventRenderer(parts, public_base(request))

        async def stream() -> AsyncIterator[bytes]:
            sub = await hub().subscribe(task_id=task_id)
            try:
                if after is None:
                    latest = await asyncio.to_thread(parts.events.latest_of_task, task_id,
                                                     sub.cursor)
                    backlog = [latest] if latest else []
                else:
                    backlog = await asyncio.to_thread(parts.events.of_task, task_id, after,
                                                      sub.cursor)
                sent = after or 0
                for event in backlog:
                    yield await renderer.render(event)
                    sent = event.seq
                    if event.status.is_final:
                        return
                async for event in _live(sub, settings.events_keepalive):
                    if event is None:
                        if await asyncio.to_thread(parts.store.get_status, task_id) is None:
                            return  # deleted: nothing more will come
                        yield KEEPALIVE
                        continue
                    if event.seq <= sent:
                        continue
                    yield await renderer.render(event)
                    sent = event.seq
                    if event.status.is_final:
                        return
            finally:
                sub.close()

        return StreamingResponse(stream(), media_type="text/event-stream", headers=_HEADERS)

    @router.get("/v1/events", response_class=StreamingResponse, responses=_EVENT_STREAM,
                summary="Follow all of the caller's tasks as server-sent events (genmill "
                        "extension)",
                description="Live changes of every task of the key; with `Last-Event-ID`, "
                            "every event after that one first. Each `data` names its "
                            "`task_id`. The stream does not end by itself.")
    async def owner_events(request: Request) -> StreamingResponse:
        who, after = owner(request), last_event_id(request)
        renderer = EventRenderer(parts, public_base(request))

        async def stream() -> AsyncIterator[bytes]:
            sub = await hub().subscribe(owner=who)
            try:
                sent = after if after is not None else sub.cursor
                while after is not None and sent < sub.cursor:
                    page = await asyncio.to_thread(parts.events.of_owner, who, sent,
                                                   sub.cursor)
                    if not page:
                        break
                    for event in page:
                        yield await renderer.render(event)
                        sent = event.seq
                async for event in _live(sub, settings.events_keepalive):
                    if event is None:
                        yield KEEPALIVE
                    elif event.seq > sent:
                        yield await renderer.render(event)
                        sent = event.seq
            finally:
                sub.close()

        return StreamingResponse(stream(), media_type="text/event-stream", headers=_HEADERS)

    return router
