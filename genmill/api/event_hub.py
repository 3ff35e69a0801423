"""One live feed of task events per server process, fanned out to its open streams.

While at least one stream listens, a single loop reads new events from the database every
`poll_interval` seconds (one indexed query whatever the number of streams) and hands each
to the streams that follow its task or its owner; with no listener it does not poll at
all. A stream that waits for its next item may take it inline (`take(inline)`): the hub
calls the stream's callback, which writes the bytes at once, so handing out an event
costs such a stream one call and no wake-up of its task; only what the callback declines
(an event that needs a database read, the final one, the end) is queued and wakes the
task. Streams hold no timers of their own, since the same loop also sends keep-alives (to
the streams that were quiet) and ends the streams of deleted tasks, once every
`keepalive / 3` seconds for all of them.

A stream subscribes first and then replays from the database up to the feed's cursor at
that moment, so replay and live events meet without a gap or a repeat. On SIGTERM or
SIGINT every stream ends at once (`watch_shutdown`): the ASGI server waits for open
responses before it exits, and an event stream would otherwise hold it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable

from genmill.domain import TaskEvent
from genmill.store.connector import CommitWatch
from genmill.store.events import EventReader, EventStore

log = logging.getLogger("genmill.events")

# What a subscription hands its stream besides events:
OVERFLOW = None  # it fell too far behind: the stream ends and the client replays
KEEPALIVE = "keepalive"  # nothing happened for a while: send a comment
END = "end"  # the server stops, or the task was deleted: end the stream


class Subscription:
    MAX_BACKLOG = 1000  # events waiting for a slow reader; past this it replays instead
    __slots__ = ("cursor", "task_id", "owner", "quiet_since", "ended", "_pending",
                 "_waiter", "_inline", "_close")

    def __init__(self, cursor: int, task_id: str | None, owner: str | None,
                 close: Callable[[Subscription], None], now: float) -> None:
        self.cursor = cursor  # events up to here come from replay, later ones live
        self.task_id, self.owner = task_id, owner
        self.quiet_since = now  # when something was last handed to the stream
        self.ended = False
        self._pending: list[TaskEvent | str | None] = []
        self._waiter: asyncio.Future | None = None
        # While the stream waits in `take(inline)` with nothing queued: the callback that
        # takes an item at once (True) or declines it (False: queued, the task wakes).
        self._inline: Callable[[TaskEvent | str], bool] | None = None
        self._close = close

    def push(self, item: TaskEvent | str | None, now: float = 0.0) -> None:
        if self.ended:
            return
        if item is OVERFLOW or item is END or len(self._pending) >= self.MAX_BACKLOG:
            self.ended = True
            item = END if item is END else OVERFLOW
        elif not self._pending and self._inline is not None and self._inline(item):
            # Only with nothing queued: an item taken inline never overtakes one queued.
            self.quiet_since = now
            return
        self._pending.append(item)
        self.quiet_since = now
        self.wake()

    def end(self) -> None:
        self.push(END)

    def wake(self) -> None:
        """Return from `take` now, even with nothing queued (an inline callback that
        began something its task must finish)."""
        self._inline = None  # from here until the task runs, items queue
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def take(self, inline: Callable[[TaskEvent | str], bool] | None = None,
                   ) -> list[TaskEvent | str | None]:
        """Everything handed out since the last call, waiting for at least one item (or
        a `wake`). Meanwhile `inline`, if given, is offered each item first; it runs on
        the hub's task, so it must not block."""
        if not self._pending:
            self._waiter = asyncio.get_running_loop().create_future()
            self._inline = inline
            try:
                await self._waiter
            finally:
                self._waiter = self._inline = None
        items, self._pending = self._pending, []
        return items

    async def next(self, timeout: float) -> TaskEvent | None:
        """The next live event (OVERFLOW once ended); TimeoutError after `timeout`
        seconds of none. Keep-alives are skipped."""
        loop = asyncio.get_running_loop()
        until = loop.time() + timeout
        while True:
            while self._pending:
                item = self._pending.pop(0)
                if item is KEEPALIVE:
                    continue
                return None if item is END else item  # type: ignore[return-value]
            remaining = until - loop.time()
            if remaining <= 0:
                raise TimeoutError
            self._waiter = loop.create_future()
            timer = loop.call_later(remaining, _wake, self._waiter)
            try:
                await self._waiter
            finally:
                timer.cancel()
                self._waiter = None

    def close(self) -> None:
        self._close(self)


def _wake(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)


class EventHub:
    """Lives on one event loop; runs while it has subscribers.

    Where the database offers a commit check (SQLite's data_version), the hub checks it
    every `check_interval` on the loop's thread and reads events only after a commit, so
    a change is seen within milliseconds rather than within `poll_interval`; elsewhere
    (PostgreSQL) it reads every `poll_interval`."""

    def __init__(self, events: EventStore, poll_interval: float,
                 keepalive: float = 15.0, check_interval: float = 0.01) -> None:
        self.events = events
        self.poll_interval = poll_interval
        self.check_interval = min(check_interval, poll_interval)
        self.keepalive = keepalive
        self._watch: CommitWatch | None = None
        self._by_task: dict[str, set[Subscription]] = {}
        self._by_owner: dict[str, set[Subscription]] = {}
        self._count = 0
        self._reader: EventReader | None = None
        self.cursor = 0  # the last event handed out; moves only on the loop
        self._runner: asyncio.Task | None = None
        self._starting: asyncio.Lock | None = None
        self.closing = False  # the server is stopping: streams end, new ones too
        self.polls = 0  # database reads and checks so far (an idle hub makes none)
        self.reads = 0  # of which reads of events

    async def subscribe(self, *, task_id: str | None = None,
                        owner: str | None = None) -> Subscription:
        await self._start()
        loop = asyncio.get_running_loop()
        # No await between reading the cursor and registering: the feed cannot move
        # in between, so every later event reaches this subscription.
        sub = Subscription(self.cursor, task_id, owner, self._unsubscribe, loop.time())
        if task_id is not None:
            self._by_task.setdefault(task_id, set()).add(sub)
        if owner is not None:
            self._by_owner.setdefault(owner, set()).add(sub)
        self._count += 1
        if self.closing:
            sub.end()
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        removed = False
        for index, key in ((self._by_task, sub.task_id), (self._by_owner, sub.owner)):
            subs = index.get(key)  # type: ignore[arg-type]
            if subs is not None and sub in subs:
                subs.discard(sub)
                removed = True
                if not subs:
                    del index[key]  # type: ignore[arg-type]
        self._count -= removed

    @property
    def subscribers(self) -> int:
        return self._count

    @property
    def running(self) -> bool:
        return self._runner is not None

    def _all(self) -> list[Subscription]:
        subs = {s for group in self._by_task.values() for s in group}
        return [*subs, *(s for group in self._by_owner.values() for s in group
                         if s not in subs)]

    def shutdown(self) -> None:
        """End every stream now (the server is stopping)."""
        self.closing = True
        for sub in self._all():
            sub.end()

    async def _start(self) -> None:
        if self._reader is not None:
            return
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._reader is None:
                # The watch first: a commit after its first look is seen as a change,
                # whether or not last_seq already counted it.
                self._watch = await asyncio.to_thread(self.events.commit_watch)
                start = await asyncio.to_thread(self.events.last_seq)
                self.cursor = start
                self._reader = EventReader(self.events, start)
                watch_shutdown(asyncio.get_running_loop(), self.shutdown)
                self._runner = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        assert self._reader is not None
        reader, watch, loop = self._reader, self._watch, asyncio.get_running_loop()
        interval = self.poll_interval if watch is None else self.check_interval
        next_sweep = loop.time() + self.keepalive / 3
        unread = False  # a change was seen but reading it failed: read again
        try:
            while True:
                await asyncio.sleep(interval)
                if not self._count:
                    return  # nobody listens: stop reading (the next subscriber restarts)
                if watch is None or unread or reader.holding_at_gap or self._changed(watch):
                    unread = not await self._read(reader, loop)
                now = loop.time()
                if now >= next_sweep:
                    next_sweep = now + self.keepalive / 3
                    await self._sweep(now)
        finally:
            # Synchronous from the check above: no subscribe can slip in between.
            self._reader = self._runner = self._watch = None
            if watch is not None:
                watch.close()

    def _changed(self, watch: CommitWatch) -> bool:
        self.polls += 1
        try:
            return watch.changed()
        except Exception:
            # Unknown, so read: the read logs if the database is really unreachable
            # (logging here too would repeat it every few milliseconds).
            return True

    async def _read(self, reader: EventReader, loop: asyncio.AbstractEventLoop) -> bool:
        """Reads new events and hands each to the streams that follow its task or owner;
        False if the read failed."""
        try:
            self.polls += 1
            self.reads += 1
            batch = await asyncio.to_thread(reader.poll, time.time())
        except Exception:
            log.exception("reading task events failed; retrying")
            return False
        now = loop.time()
        for event in batch:
            for sub in self._by_task.get(event.id, ()):
                sub.push(event, now)
            for sub in self._by_owner.get(event.owner, ()):
                sub.push(event, now)
            self.cursor = event.seq
        return True

    async def _sweep(self, now: float) -> None:
        """Keep-alives for the streams quiet for two thirds of the interval (so none is
        quiet longer than the interval), and the end for streams of deleted tasks."""
        quiet = now - self.keepalive * 2 / 3
        for sub in self._all():
            if sub.quiet_since <= quiet:
                sub.push(KEEPALIVE, now)
        followed = list(self._by_task)
        if not followed:
            return
        try:
            gone = await asyncio.to_thread(self.events.missing_tasks, followed)
        except Exception:
            log.exception("checking followed tasks failed; retrying")
            return
        for task_id in gone:
            for sub in list(self._by_task.get(task_id, ())):
                sub.end()


class EventHubs:
    """The hub of each event loop of this process (an ASGI server may run several)."""

    def __init__(self, events: EventStore, poll_interval: float,
                 keepalive: float = 15.0, check_interval: float = 0.01) -> None:
        self.events = events
        self.poll_interval = poll_interval
        self.keepalive = keepalive
        self.check_interval = check_interval
        self._hubs: dict[asyncio.AbstractEventLoop, EventHub] = {}

    def current(self) -> EventHub:
        loop = asyncio.get_running_loop()
        hub = self._hubs.get(loop)
        if hub is None:
            hub = self._hubs[loop] = EventHub(self.events, self.poll_interval, self.keepalive,
                                              self.check_interval)
        return hub


_WATCHED: set[asyncio.AbstractEventLoop] = set()
_ON_STOP: dict[asyncio.AbstractEventLoop, list[Callable[[], None]]] = {}


def watch_shutdown(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    """Call `callback` on the loop when the process gets SIGTERM or SIGINT, before the
    handler the ASGI server installed (which it still runs). granian's worker handles the
    signals on its loop (`add_signal_handler`), uvicorn with `signal.signal`: both are
    chained. The server then waits for open responses, which have ended by then."""
    _ON_STOP.setdefault(loop, []).append(callback)
    if loop in _WATCHED:
        return
    _WATCHED.add(loop)

    def fire() -> None:
        for stop in _ON_STOP.get(loop, ()):
            stop()

    handlers = getattr(loop, "_signal_handlers", {})  # asyncio's own table (Unix loops)
    for sig in (signal.SIGTERM, signal.SIGINT):
        handle = handlers.get(sig)
        if handle is not None:  # the server handles it on this loop: run ours first
            def chained(handle: asyncio.Handle = handle) -> None:
                fire()
                handle._run()
            loop.add_signal_handler(sig, chained)
            continue
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue  # SIG_DFL / SIG_IGN: the process ends without waiting on streams

        def chained_signal(signum: int, frame, previous=previous) -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(fire)
            previous(signum, frame)
        try:
            signal.signal(sig, chained_signal)
        except ValueError:
            pass  # not the main thread: nothing to chain


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
