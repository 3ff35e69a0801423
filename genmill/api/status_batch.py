"""Status polls on a networked database (PostgreSQL): a memo kept fresh by notifications,
and one query for all the polls it cannot answer.

A poll there is a network round trip, and one per request through a thread pool and a
connection pool cost ten times SQLite's in-process lookup (bench/poll.py). Even one query
shared by the polls in flight served half of SQLite's polls: each poll still waited for a
round trip. So each event loop remembers the statuses it read, as SQLite's memo does
(store/status_memo.py), and forgets a task's when PostgreSQL names it on the status feed
(`StatusFeed`: a NOTIFY sent by the transaction that changed or deleted it). The feed is
read without blocking once per loop turn, before any poll of that turn is answered. A
remembered status is thus served only while no notification of a change to it has
reached this process, and one process's answers never go back. Across processes they
can, for the milliseconds a notification takes to arrive: a client that sees a change
through one process and asks another at once may get the status before it (1 pair in
10,000 in bench/poll_monotonic.py, a change every 2 ms, on loopback).
GENMILL_STATUS_MEMO=0 turns the memo off where that matters more than polls/s.

When the feed cannot be trusted (not connected yet, lost, silent), nothing is remembered
and every poll is read. The task ids being polled are then gathered and read in one query,
off the loop; polls that arrive while a read is running wait for the next one. Every read
begins after the poll that waits on it arrived, so no such poll is answered from a
snapshot older than one its client already saw (through this process or any other).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from genmill.domain import TaskStatus

if TYPE_CHECKING:
    from genmill.store.connector import StatusFeed


class StatusBatcher:
    """Lives on one event loop (`StatusBatchers` keeps one per loop)."""

    MAX_BATCH = 512  # ids per query: bounds one query's size under a burst
    # Reads running at once. One at a time leaves the loop idle while it waits, but
    # measured on 2 cores, 2 or 3 at once served fewer polls (3,900 -> 3,600 -> 3,100/s):
    # smaller batches, more queries for the same polls.
    IN_FLIGHT = 1
    MAX_REMEMBERED = 8192  # statuses; the oldest is forgotten first

    def __init__(self, read: Callable[[list[str]], dict[str, TaskStatus]],
                 feed: StatusFeed | None = None) -> None:
        self._read = read
        self._waiting: dict[str, list[asyncio.Future]] = {}
        self._reads: set[asyncio.Task] = set()  # held: the loop keeps tasks weakly
        self._feed = feed
        self._remembered: dict[str, TaskStatus] = {}
        self._epoch = 0  # the feed's epoch the remembered statuses belong to
        self._trusted = False  # in this loop turn: the feed is live and was read
        self._turn_read = False
        self._changed_in_read: set[str] = set()  # notified while the read was out

    def remembered(self, task_id: str) -> TaskStatus | None:
        """The task's status if it is remembered and no change to it was notified (on
        the loop's thread, without waiting); None: ask `get`."""
        if self._feed is None:
            return None
        if not self._turn_read:
            self._read_feed()
        return self._remembered.get(task_id)

    def _read_feed(self) -> None:
        """Once per loop turn: forget what the notifications that have arrived name."""
        self._turn_read = True
        asyncio.get_running_loop().call_soon(self._end_turn)
        changed = self._feed.changes()
        if changed is None or self._feed.epoch != self._epoch:
            self._remembered.clear()
            self._epoch = self._feed.epoch
        self._trusted = changed is not None
        if changed:
            remembered = self._remembered
            for task_id in changed:
                remembered.pop(task_id, None)
            if self._reads:
                self._changed_in_read.update(changed)

    def _end_turn(self) -> None:
        self._turn_read = False

    async def get(self, task_id: str) -> TaskStatus | None:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        waiters = self._waiting.get(task_id)
        if waiters is None:
            self._waiting[task_id] = [future]
        else:
            waiters.append(future)
        if len(self._reads) < self.IN_FLIGHT:
            self._start(loop)
        return await future

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        read = loop.create_task(self._read_batch(loop, self._take()))
        self._reads.add(read)
        read.add_done_callback(self._done)

    def _done(self, read: asyncio.Task) -> None:
        self._reads.discard(read)
        if self._waiting and len(self._reads) < self.IN_FLIGHT:
            self._start(read.get_loop())

    async def _read_batch(self, loop: asyncio.AbstractEventLoop,
                          batch: dict[str, list[asyncio.Future]]) -> None:
        # Remembered only if the feed was trusted before the read began (so it listened
        # before the read's snapshot) and still is, in the same epoch, and no change to
        # the task was notified meanwhile: else the read may hold what a change replaced.
        if self._feed is not None and not self._turn_read:
            self._read_feed()
        remember = self._trusted
        epoch = self._epoch
        self._changed_in_read.clear()
        try:
            found = await loop.run_in_executor(None, self._read, list(batch))
        except Exception as exc:  # every poll of the batch answers the error
            for futures in batch.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
            return
        for task_id, futures in batch.items():
            status = found.get(task_id)
            for future in futures:
                if not future.done():  # its request may have been cancelled
                    future.set_result(status)
        if self._feed is not None and not self._turn_read:
            self._read_feed()
        if remember and self._trusted and self._epoch == epoch:
            self._remember(found)

    def _remember(self, found: dict[str, TaskStatus]) -> None:
        remembered, skip = self._remembered, self._changed_in_read
        for task_id, status in found.items():
            if task_id in skip:
                continue
            if task_id not in remembered and len(remembered) >= self.MAX_REMEMBERED:
                del remembered[next(iter(remembered))]  # the oldest
            remembered[task_id] = status

    def _take(self) -> dict[str, list[asyncio.Future]]:
        if len(self._waiting) <= self.MAX_BATCH:
            batch, self._waiting = self._waiting, {}
            return batch
        batch = {}
        for task_id in list(self._waiting)[:self.MAX_BATCH]:
            batch[task_id] = self._waiting.pop(task_id)
        return batch


class StatusBatchers:
    """One batcher per event loop of this process, each with its own status feed."""

    def __init__(self, read: Callable[[list[str]], dict[str, TaskStatus]],
                 feed: Callable[[], StatusFeed | None] = lambda: None) -> None:
        self._read = read
        self._feed = feed
        self._by_loop: dict[asyncio.AbstractEventLoop, StatusBatcher] = {}

    def current(self) -> StatusBatcher:
        loop = asyncio.get_running_loop()
        batcher = self._by_loop.get(loop)
        if batcher is None:
            batcher = self._by_loop[loop] = StatusBatcher(self._read, self._feed())
        return batcher
