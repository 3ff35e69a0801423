"""Status polls on PostgreSQL share one query per batch (api/status_batch.py), and none is
answered from a read that began before it arrived."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from genmill.api.status_batch import StatusBatcher
from genmill.store.errors import StoreUnavailable
from tests.conftest import KEYS, wait_final

IMAGES = "/v1/images/generations/async"


class Table:
    """A stand-in for the database: one value per id, reads that take a while."""

    def __init__(self) -> None:
        self.value = "v1"
        self.reads: list[list[str]] = []
        self.reading = threading.Event()
        self.fail = False

    def read(self, ids: list[str]) -> dict[str, str]:
        self.reads.append(sorted(ids))
        snapshot = self.value  # what the database shows when the read begins
        self.reading.set()
        time.sleep(0.1)
        if self.fail:
            raise StoreUnavailable("down")
        return {i: f"{i}:{snapshot}" for i in ids if i != "missing"}


def test_polls_in_flight_share_a_read_and_none_is_answered_from_an_older_one():
    table = Table()

    async def scenario():
        batcher = StatusBatcher(table.read)
        first = asyncio.ensure_future(batcher.get("a"))
        await asyncio.to_thread(table.reading.wait)  # the first read has its snapshot
        table.value = "v2"  # a change commits; then more polls arrive
        later = [asyncio.ensure_future(batcher.get(i)) for i in ["a", "b", "a", "missing"] * 5]
        return await first, await asyncio.gather(*later)

    first, later = asyncio.run(scenario())
    assert first == "a:v1"
    assert later == ["a:v2", "b:v2", "a:v2", None] * 5  # all after the change
    assert table.reads == [["a"], ["a", "b", "missing"]]  # 21 polls, 2 queries


def test_a_failed_read_fails_its_polls_and_the_next_read_serves_the_rest():
    table = Table()
    table.fail = True

    async def scenario():
        batcher = StatusBatcher(table.read)
        with pytest.raises(StoreUnavailable):
            await batcher.get("a")
        table.fail = False
        return await batcher.get("a")

    assert asyncio.run(scenario()) == "a:v1"


def test_status_polls_on_postgresql_see_each_change_and_only_their_own_tasks(
        make_server, postgres_url):
    server = make_server(workers=1, env={"GENMILL_DATABASE_URL": postgres_url}).start()
    with server.client() as alice, server.client(key=None) as anonymous:
        task_id = alice.post(IMAGES, json={"model": "test/steps-t2i", "prompt": "pg",
                                           "steps": 5, "step_ms": 50}).json()["task_id"]
        seen = [alice.get(f"{IMAGES}/{task_id}").json()["data"]["status"]]
        data = wait_final(alice, f"{IMAGES}/{task_id}")
        assert data["status"] == "SUCCESS" and seen[0] in ("QUEUED", "IN_PROGRESS", "SUCCESS")
        # Right after the final status was seen, every poll shows it, never an older one.
        for _ in range(20):
            assert alice.get(f"{IMAGES}/{task_id}").json()["data"]["status"] == "SUCCESS"
        bob = {"Authorization": f"Bearer {KEYS['bob']}"}
        assert anonymous.get(f"{IMAGES}/{task_id}", headers=bob).status_code == 404
        assert alice.get(f"/v1/video/generations/{task_id}").status_code == 404  # other kind
        assert alice.get(f"{IMAGES}/img_nonexistent").status_code == 404


def test_statuses_on_postgresql_come_back_after_a_lost_connection(postgres_url):
    import psycopg

    from bench.common import seed_tasks
    from genmill.store.connector import Database
    from genmill.store.tasks import TaskStore

    ids = seed_tasks(postgres_url, 3, owner="alice")
    store = TaskStore(Database(postgres_url))
    try:
        found = store.get_statuses(ids + ["video_missing"])
        assert sorted(found) == sorted(ids) and found[ids[0]].owner == "alice"
        with psycopg.connect(postgres_url, autocommit=True) as admin:  # cut the reader
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        with pytest.raises(StoreUnavailable):
            store.get_statuses(ids)
        assert sorted(store.get_statuses(ids)) == sorted(ids)  # a new connection
    finally:
        store.db.dispose()
