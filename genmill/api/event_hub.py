"""One live feed of task events per server process, fanned out to its open streams.

A single loop reads new events from the database every `poll_interval` seconds (one
indexed query whatever the number of streams) and hands each to the streams that follow
its task or its owner. A stream subscribes first and then replays from the database up
to the feed's cursor at that moment, so replay and live events meet without a gap or a
repeat.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from genmill.domain import TaskEvent
from genmill.store.events import EventReader, EventStore

log = logging.getLogger("genmill.events")

OVERFLOW = None  # put on a stream's queue when it fell too far behind: it must reconnect


class Subscription:
    MAX_BACKLOG = 1000  # events waiting for a slow reader; past this it replays instead

    def __init__(self, cursor: int, close: Callable[[Subscription], None]) -> None:
        self.cursor = cursor  # events up to here come from replay, later ones live
        self.queue: asyncio.Queue[TaskEvent | None] = asyncio.Queue()
        self._close = close
        self.overflowed = False

    def push(self, event: TaskEvent) -> None:
        if self.overflowed:
            return
        if self.queue.qsize() >= self.MAX_BACKLOG:
            self.overflowed = True
            self.queue.put_nowait(OVERFLOW)
            return
        self.queue.put_nowait(event)

    async def next(self, timeout: float) -> TaskEvent | None:
        """The next live event; raises TimeoutError after `timeout` seconds of none."""
        return await asyncio.wait_for(self.queue.get(), timeout)

    def close(self) -> None:
        self._close(self)


class EventHub:
    """Lives on one event loop; started by the first subscriber."""

    def __init__(self, events: EventStore, poll_interval: float) -> None:
        self.events = events
        self.poll_interval = poll_interval
        self._by_task: dict[str, set[Subscription]] = {}
        self._by_owner: dict[str, set[Subscription]] = {}
        self._reader: EventReader | None = None
        self.cursor = 0  # the last event handed out; moves only on the loop
        self._runner: asyncio.Task | None = None
        self._starting: asyncio.Lock | None = None

    async def subscribe(self, *, task_id: str | None = None,
                        owner: str | None = None) -> Subscription:
        await self._start()
        # No await between reading the cursor and registering: the feed cannot move
        # in between, so every later event reaches this subscription.
        sub = Subscription(self.cursor, self._unsubscribe)
        sub.task_id, sub.owner = task_id, owner  # type: ignore[attr-defined]
        if task_id is not None:
            self._by_task.setdefault(task_id, set()).add(sub)
        if owner is not None:
            self._by_owner.setdefault(owner, set()).add(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        for index, key in ((self._by_task, sub.task_id), (self._by_owner, sub.owner)):  # type: ignore[attr-defined]
            subs = index.get(key)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del index[key]

    @property
    def subscribers(self) -> int:
        return sum(map(len, self._by_task.values())) + sum(map(len, self._by_owner.values()))

    async def _start(self) -> None:
        if self._reader is not None:
            return
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._reader is None:
                start = await asyncio.to_thread(self.events.last_seq)
                self.cursor = start
                self._reader = EventReader(self.events, start)
                self._runner = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        assert self._reader is not None
        reader = self._reader
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                batch = await asyncio.to_thread(reader.poll, time.time())
            except Exception:
                log.exception("reading task events failed; retrying")
                continue
            for event in batch:
                for sub in self._by_task.get(event.id, ()):
                    sub.push(event)
                for sub in self._by_owner.get(event.owner, ()):
                    sub.push(event)
                self.cursor = event.seq


class EventHubs:
    """The hub of each event loop of this process (an ASGI server may run several)."""

    def __init__(self, events: EventStore, poll_interval: float) -> None:
        self.events = events
        self.poll_interval = poll_interval
        self._hubs: dict[asyncio.AbstractEventLoop, EventHub] = {}

    def current(self) -> EventHub:
        loop = asyncio.get_running_loop()
        hub = self._hubs.get(loop)
        if hub is None:
            hub = self._hubs[loop] = EventHub(self.events, self.poll_interval)
        return hub


async def wait_until_final(hub: EventHub, is_final: Callable[[], Awaitable[bool]],
                           task_id: str, timeout: float) -> None:
    """Return once the task is final (by its events), or after `timeout` seconds."""
    sub = await hub.subscribe(task_id=task_id)
    try:
        if await is_final():  # it may have ended before the subscription began
            return
        loop = asyncio.get_running_loop()
        until = loop.time() + timeout
        while (remaining := until - loop.time()) > 0:
            try:
                event = await sub.next(remaining)
            except TimeoutError:
                return
            if event is OVERFLOW or event.status.is_final:
                return
    finally:
        sub.close()
