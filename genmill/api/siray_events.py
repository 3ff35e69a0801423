"""Server-sent events (a genmill extension of the Siray dialect).

`GET /v1/tasks/{task_id}/events` streams one event per change of a task and ends after
its final one; `GET /v1/events` streams the changes of all the caller's tasks. Each
event's `id:` is the event's number; a client that reconnects with `Last-Event-ID` (or
`?last_event_id=`) gets every event after it, from the database, then the live ones.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import StreamingResponse

from genmill.api.auth import owner
from genmill.api.deps import public_base
from genmill.api.errors import ApiError
from genmill.api.event_hub import END, KEEPALIVE, OVERFLOW, EventHubs, Subscription
from genmill.api.middleware import BODY_SEND
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


_TEXTS: dict[tuple[int, str, int | None], bytes] = {}  # (seq, base, position) -> text
_TEXTS_KEPT = 4096
_POSITIONS: dict[tuple[asyncio.AbstractEventLoop, int], asyncio.Future] = {}
_POSITIONS_KEPT = 4096


def _event_text(event: TaskEvent, base: str, position: int | None) -> bytes:
    """An event as SSE text, encoded once: every stream that follows the task (and every
    key stream of its owner) sends these same bytes."""
    key = (event.seq, base, position)
    text = _TEXTS.get(key)
    if text is None:
        data: dict[str, Any] = status_document(event, base)["data"]
        data["queue_position"] = position
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        text = f"id: {event.seq}\nevent: status\ndata: {body}\n\n".encode()
        if len(_TEXTS) >= _TEXTS_KEPT:
            del _TEXTS[next(iter(_TEXTS))]
        _TEXTS[key] = text
    return text


class EventRenderer:
    """Renders events for one stream. A waiting task's queue position is read once per
    event, whatever the number of streams that wait for it at the same moment."""

    def __init__(self, parts: Components, base: str) -> None:
        self.parts = parts
        self.base = base

    def text(self, event: TaskEvent) -> bytes | None:
        """The event's text if it needs no database read (else None: `render`)."""
        if event.status is Status.QUEUED:
            pending = _POSITIONS.get((asyncio.get_running_loop(), event.seq))
            if pending is None or not pending.done() or pending.exception() is not None:
                return None
            return _event_text(event, self.base, pending.result())
        key = (event.seq, self.base, None)
        return _TEXTS.get(key) or _event_text(event, self.base, None)

    async def render(self, event: TaskEvent) -> bytes:
        position = None
        if event.status is Status.QUEUED:
            key = (asyncio.get_running_loop(), event.seq)
            pending = _POSITIONS.get(key)
            if pending is None:
                if len(_POSITIONS) >= _POSITIONS_KEPT:
                    del _POSITIONS[next(iter(_POSITIONS))]
                pending = _POSITIONS[key] = asyncio.ensure_future(asyncio.to_thread(
                    self.parts.service.queue_position, event.id))
            position = await asyncio.shield(pending)
        return _event_text(event, self.base, position)


KEEPALIVE_TEXT = b": keep-alive\n\n"


class Replay:
    """What a stream sends before the live events: `chunks` yields them and leaves in
    `sent` the number of the last one, and in `done` whether the stream ends there."""

    def __init__(self) -> None:
        self.sent = 0
        self.done = False


class _Unfinished:
    """A send that a stream's inline callback began on the hub's task and that had to
    wait (the client reads slowly, the server's buffer for it is full): the stream's own
    task awaits the rest. Yields the object the send was waiting on, as the send itself
    would have, then goes on with the send."""

    __slots__ = ("step", "waiting_on")

    def __init__(self, step, waiting_on) -> None:
        self.step, self.waiting_on = step, waiting_on

    def __await__(self):
        try:
            yield self.waiting_on
        except BaseException:
            close = getattr(self.step, "close", None)  # a coroutine's finally blocks run
            if close is not None:
                close()
            raise
        return (yield from self.step)


class EventStreamResponse(StreamingResponse):
    """An event stream sent straight to the ASGI server: the replay, then the live
    events. This is the fan-out's hot path (one pass per stream per change). While the
    stream waits, the hub hands it each live event inline (`_inline`, on the hub's task):
    the event's bytes go to the ASGI `send` at once, so a change costs a stream one call
    and one send, and no wake-up of its task (whose await chain runs through every
    middleware of the app). The stream's task runs only for what needs it: an event that
    needs a database read (a queue position), the final event, the end, a send that
    could not complete at once. It sends the body past genmill's own middleware, whose
    send wrappers look only at the response start (`middleware.BODY_SEND`), with no task
    group (StreamingResponse's) and no generator per event. A single task per stream
    waits for the client to hang up and then ends the subscription."""

    def __init__(self, sub: Subscription, renderer: EventRenderer, replay: Replay,
                 chunks: AsyncIterator[bytes], final_ends: bool) -> None:
        super().__init__(chunks, media_type="text/event-stream", headers=_HEADERS)
        self.sub, self.renderer, self.replay = sub, renderer, replay
        self.final_ends = final_ends

    async def __call__(self, scope, receive, send) -> None:
        async def until_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        watcher = asyncio.get_running_loop().create_task(until_disconnect())
        watcher.add_done_callback(lambda _: self.sub.end())
        try:
            await send({"type": "http.response.start", "status": self.status_code,
                        "headers": self.raw_headers})
            send = scope.get(BODY_SEND, send)
            async for chunk in self.body_iterator:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if not self.replay.done:
                await self._live(send)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except Exception:
            if not watcher.done():  # a failed send to a client still there is a bug
                raise
        finally:
            watcher.cancel()
            self.sub.close()
            await self.body_iterator.aclose()  # type: ignore[attr-defined]

    async def _live(self, send) -> None:
        """Live events after the replay, keep-alive comments when the hub says so, until
        the hub ends the subscription (an overflow: the client reconnects with its last
        id and replays; shutdown; a deleted task) or, for a task's stream, a final event."""
        sub, renderer = self.sub, self.renderer
        self._sent, self._send = self.replay.sent, send
        self._unfinished: _Unfinished | Exception | None = None
        while True:
            items = await sub.take(self._inline)
            if self._unfinished is not None:  # what `_inline` began comes first
                unfinished, self._unfinished = self._unfinished, None
                if isinstance(unfinished, Exception):
                    raise unfinished
                await unfinished
            out, ended = [], False
            for item in items:
                if item is KEEPALIVE:
                    out.append(KEEPALIVE_TEXT)
                elif item is END or item is OVERFLOW:
                    ended = True
                elif item.seq > self._sent:  # type: ignore[union-attr]
                    event: TaskEvent = item  # type: ignore[assignment]
                    out.append(renderer.text(event) or await renderer.render(event))
                    self._sent = event.seq
                    if self.final_ends and event.status.is_final:
                        ended = True
                        break
            if out:
                await send({"type": "http.response.body", "body": b"".join(out),
                            "more_body": True})
            if ended:
                return

    def _inline(self, item: TaskEvent | str) -> bool:
        """Called by the hub while the stream waits: sends `item` now if it needs
        nothing from the stream's task, and says whether it took it."""
        if item is KEEPALIVE:
            chunk = KEEPALIVE_TEXT
        else:
            event: TaskEvent = item  # type: ignore[assignment]
            if event.seq <= self._sent:
                return True  # the replay sent it
            if self.final_ends and event.status.is_final:
                return False  # the task ends the response after it
            chunk = self.renderer.text(event)
            if chunk is None:
                return False  # a queue position to read first
            self._sent = event.seq
        try:
            # ASGI's send is awaitable; stepped once here it completes at once unless the
            # client's buffer is full (granian: a bounded channel; uvicorn: paused writes).
            step = self._send({"type": "http.response.body", "body": chunk,
                              "more_body": True}).__await__()
            waiting_on = next(step)
        except StopIteration:
            return True
        except Exception as exc:  # raised in the stream's task, as its own send would
            self._unfinished = exc
        else:
            self._unfinished = _Unfinished(step, waiting_on)
        self.sub.wake()
        return True


def build_router(parts: Components, hubs: EventHubs) -> APIRouter:
    router = APIRouter(tags=["Siray API"])
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
        sub = await hub().subscribe(task_id=task_id)
        replay = Replay()

        async def stream() -> AsyncIterator[bytes]:
            if after is None:
                latest = await asyncio.to_thread(parts.events.latest_of_task, task_id,
                                                 sub.cursor)
                backlog = [latest] if latest else []
            else:
                backlog = await asyncio.to_thread(parts.events.of_task, task_id, after,
                                                  sub.cursor)
            replay.sent = after or 0
            for event in backlog:
                yield await renderer.render(event)
                replay.sent = event.seq
                if event.status.is_final:
                    replay.done = True
                    return

        return EventStreamResponse(sub, renderer, replay, stream(), final_ends=True)

    @router.get("/v1/events", response_class=StreamingResponse, responses=_EVENT_STREAM,
                summary="Follow all of the caller's tasks as server-sent events (genmill "
                        "extension)",
                description="Live changes of every task of the key, from the moment the "
                            "stream opens: nothing that happened before is sent (a dashboard "
                            "lists the tasks first, then follows this stream). With "
                            "`Last-Event-ID`, every event after that one first. Each `data` "
                            "names its `task_id`. The stream does not end by itself.")
    async def owner_events(request: Request) -> StreamingResponse:
        who, after = owner(request), last_event_id(request)
        renderer = EventRenderer(parts, public_base(request))
        sub = await hub().subscribe(owner=who)
        replay = Replay()
        replay.sent = after if after is not None else sub.cursor

        async def stream() -> AsyncIterator[bytes]:
            while after is not None and replay.sent < sub.cursor:
                page = await asyncio.to_thread(parts.events.of_owner, who, replay.sent,
                                               sub.cursor)
                if not page:
                    break
                for event in page:
                    yield await renderer.render(event)
                    replay.sent = event.seq

        return EventStreamResponse(sub, renderer, replay, stream(), final_ends=False)

    return router
