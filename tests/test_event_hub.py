"""The event hub on a real SQLite store, in this process: it reads the database only
while someone listens, keeps quiet streams alive, and ends streams of deleted tasks."""

from __future__ import annotations

import asyncio

from genmill.api.event_hub import END, KEEPALIVE, EventHub, Subscription
from genmill.store.connector import Database
from genmill.store.events import EventStore
from genmill.store.tasks import TaskStore
from tests.test_store import make_task


def hub_on(tmp_path, keepalive: float = 30.0) -> EventHub:
    db = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    db.migrate()
    return EventHub(EventStore(db), poll_interval=0.01, keepalive=keepalive)


def test_the_hub_reads_only_while_someone_listens(tmp_path):
    async def scenario() -> None:
        hub = hub_on(tmp_path)
        await asyncio.sleep(0.1)
        assert hub.polls == 0 and not hub.running  # nobody listened yet
        sub = await hub.subscribe(owner="alice")
        await asyncio.sleep(0.1)
        assert hub.running and hub.polls >= 2
        sub.close()
        await asyncio.sleep(0.05)
        assert not hub.running and hub.subscribers == 0
        stopped_at = hub.polls
        await asyncio.sleep(0.1)
        assert hub.polls == stopped_at  # idle again: no reads
        again = await hub.subscribe(owner="alice")  # a later subscriber restarts it
        await asyncio.sleep(0.05)
        assert hub.running and hub.polls > stopped_at
        again.close()

    asyncio.run(scenario())


def test_quiet_streams_get_keepalives_and_deleted_tasks_end(tmp_path):
    async def scenario() -> None:
        hub = hub_on(tmp_path, keepalive=0.3)
        loop = asyncio.get_running_loop()
        quiet = await hub.subscribe(owner="alice")
        gone = await hub.subscribe(task_id="image_" + "0" * 32)  # no such task (deleted)
        start = loop.time()
        gaps = []
        for _ in range(3):
            assert await asyncio.wait_for(quiet.take(), 2) == [KEEPALIVE]
            gaps.append(loop.time() - start)
            start = loop.time()
        # Never quiet longer than the interval (a sweep every third of it sends to the
        # streams quiet for two thirds); the slack is for a loaded machine.
        assert max(gaps) < 0.3 * 5
        assert END in await asyncio.wait_for(gone.take(), 2)
        quiet.close()
        gone.close()
        hub.shutdown()
        late = await hub.subscribe(owner="alice")  # after shutdown: ends at once
        assert await late.take() == [END]
        late.close()

    asyncio.run(scenario())


def test_a_waiting_stream_takes_items_inline_and_never_out_of_order():
    """The fan-out's fast path: while a stream waits in take(inline), items go to its
    callback without waking it; what the callback declines queues, and from then on
    everything queues behind it until the stream has taken the queue."""

    async def scenario() -> None:
        sub = Subscription(0, "t", None, lambda s: None, 0.0)
        inline: list = []

        def take_odd(item) -> bool:  # declines the even ones
            if item % 2:
                inline.append(item)
                return True
            return False

        waiting = asyncio.ensure_future(sub.take(take_odd))
        await asyncio.sleep(0)
        sub.push(1)
        await asyncio.sleep(0)
        assert inline == [1] and not waiting.done()  # taken inline: no wake-up
        sub.push(2)  # declined: queued, the stream wakes
        sub.push(3)  # behind a queued item: queued too, never inline
        assert await waiting == [2, 3] and inline == [1]
        waiting = asyncio.ensure_future(sub.take(take_odd))
        await asyncio.sleep(0)
        sub.wake()  # an inline send left unfinished: the stream must run first
        sub.push(5)
        assert await waiting == [5] and inline == [1]
        waiting = asyncio.ensure_future(sub.take())  # no callback: plain queueing
        await asyncio.sleep(0)
        sub.push(7)
        assert await waiting == [7] and inline == [1]
        sub.push(END)
        assert await sub.take(take_odd) == [END]  # the end is never offered inline

    asyncio.run(scenario())


def test_on_sqlite_the_hub_reads_events_only_after_a_commit(tmp_path):
    """data_version: an idle database costs cheap checks, no event reads; a commit is
    read within a few check intervals."""

    async def scenario() -> None:
        db = Database(f"sqlite:///{tmp_path / 'hub.db'}")
        db.migrate()
        hub = EventHub(EventStore(db), poll_interval=1.0, check_interval=0.01)
        store, task = TaskStore(db), make_task()
        store.insert(task)
        store.claim("w1", 30)
        sub = await hub.subscribe(task_id=task.id)
        await asyncio.sleep(0.3)
        assert hub.reads == 0 and hub.polls > 5  # checked often, read nothing
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.to_thread(store.set_progress, task.id, "w1", 40, "")
        [event] = await asyncio.wait_for(sub.take(), 2)
        # Far sooner than poll_interval (1 s), which alone would have found it.
        assert event.progress == 40 and loop.time() - started < 0.5
        assert hub.reads == 1
        sub.close()
        db.dispose()

    asyncio.run(scenario())

