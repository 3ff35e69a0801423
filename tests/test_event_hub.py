"""The event hub on a real SQLite store, in this process: it reads the database only
while someone listens, keeps quiet streams alive, and ends streams of deleted tasks."""

from __future__ import annotations

import asyncio

from genmill.api.event_hub import END, KEEPALIVE, EventHub
from genmill.store.connector import Database
from genmill.store.events import EventStore


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
