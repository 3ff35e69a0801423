"""Status polls on PostgreSQL share one query per batch (api/status_batch.py), and none is
answered from a read that began before it arrived."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from genmill.api.status_batch import StatusBatcher
from genmill.store.errors import StoreUnavailable
from tests.conftest import KEYS, wait_final, wait_for

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


class Feed:
    """A stand-in for the status feed: the ids notified since the last read."""

    def __init__(self) -> None:
        self.notified: list[str] = []
        self.live = True
        self.epoch = 1

    def changes(self) -> list[str] | None:
        if not self.live:
            return None
        notified, self.notified = self.notified, []
        return notified

    def close(self) -> None:
        pass


async def _next_turn() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def test_a_remembered_status_is_served_until_the_feed_names_its_task():
    table, feed = Table(), Feed()

    async def scenario():
        batcher = StatusBatcher(table.read, feed)
        assert batcher.remembered("a") is None
        assert await batcher.get("a") == "a:v1"
        await _next_turn()
        table.value = "v2"  # changed, but not notified yet
        assert batcher.remembered("a") == "a:v1"
        feed.notified.append("a")
        assert batcher.remembered("a") == "a:v1"  # the feed is read once per loop turn
        await _next_turn()
        assert batcher.remembered("a") is None
        assert await batcher.get("a") == "a:v2"
        await _next_turn()
        assert batcher.remembered("a") == "a:v2"
        assert await batcher.get("missing") is None
        await _next_turn()
        assert batcher.remembered("missing") is None  # an absent task is never remembered

    asyncio.run(scenario())
    assert table.reads == [["a"], ["a"], ["missing"]]


def test_nothing_is_remembered_while_the_feed_cannot_be_trusted_or_after_its_epoch():
    table, feed = Table(), Feed()

    async def scenario():
        batcher = StatusBatcher(table.read, feed)
        assert await batcher.get("a") == "a:v1"
        await _next_turn()
        assert batcher.remembered("a") == "a:v1"
        feed.live = False  # lost: what was notified meanwhile is unknown
        await _next_turn()
        assert batcher.remembered("a") is None
        assert await batcher.get("a") == "a:v1"
        await _next_turn()
        assert batcher.remembered("a") is None  # read while untrusted: not remembered
        feed.live, feed.epoch = True, 2  # listening again, on a new connection
        assert await batcher.get("a") == "a:v1"
        await _next_turn()
        assert batcher.remembered("a") == "a:v1"
        feed.epoch = 3  # a reconnect between two reads of the feed
        await _next_turn()
        assert batcher.remembered("a") is None

    asyncio.run(scenario())


def test_a_read_during_which_its_task_was_notified_is_answered_but_not_remembered():
    table, feed = Table(), Feed()

    async def scenario():
        batcher = StatusBatcher(table.read, feed)
        first = asyncio.ensure_future(batcher.get("a"))
        await asyncio.to_thread(table.reading.wait)  # the read has its snapshot (v1)
        table.value = "v2"
        feed.notified.append("a")  # the change's notification arrives before the answer
        assert await first == "a:v1"  # fresh enough for the poll that asked
        await _next_turn()
        assert batcher.remembered("a") is None  # but it may be older than the change
        assert await batcher.get("a") == "a:v2"

    asyncio.run(scenario())


def test_the_status_feed_names_changed_and_deleted_tasks_and_comes_back_when_cut(
        postgres_url):
    import psycopg

    from bench.common import seed_tasks
    from genmill.store.connector import FEED_NAME, Database

    first, second = seed_tasks(postgres_url, 2, owner="alice")
    db = Database(postgres_url)
    feed = db.status_feed()
    try:
        wait_for(lambda: feed.changes() is not None, timeout=10)
        assert feed.epoch == 1

        def collect_until(task_id: str) -> list[str]:
            seen: list[str] = []

            def named() -> bool:
                seen.extend(feed.changes() or [])
                return task_id in seen
            wait_for(named, timeout=10)
            return seen

        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("UPDATE tasks SET progress = 50 WHERE id = %s", [first])
            assert collect_until(first) == [first]
            # A lease renewal changes nothing a poll shows: no notification.
            conn.execute("UPDATE tasks SET lease_expires = 1 WHERE id = %s", [first])
            conn.execute("UPDATE tasks SET outputs = '[\"a.png\"]' WHERE id = %s", [second])
            assert collect_until(second) == [second]
            conn.execute("DELETE FROM tasks WHERE id = %s", [first])
            assert collect_until(first) == [first]
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE application_name = %s AND datname = current_database()",
                         [FEED_NAME])
        wait_for(lambda: feed.changes() is None, timeout=10)  # cut: not trusted
        wait_for(lambda: feed.changes() is not None, timeout=10)  # listening again
        assert feed.epoch == 2
    finally:
        feed.close()
        db.dispose()


def test_polls_through_two_servers_on_postgresql_follow_each_change_and_survive_a_cut_feed(
        make_server, postgres_url, tmp_path):
    """Two API processes, each with its memo, polled in turn while a task advances: each
    never goes back (across the two, a memo is as fresh as the notifications that reached
    it: bench/poll_monotonic.py), and both see every change."""
    import psycopg

    from genmill.store.connector import FEED_NAME

    env = {"GENMILL_DATABASE_URL": postgres_url}
    one = make_server(workers=1, env=env, data_dir=tmp_path / "one").start()
    two = make_server(workers=0, env=env, data_dir=tmp_path / "two").start()
    with one.client() as a, two.client() as b:
        task_id = a.post(IMAGES, json={"model": "test/steps-t2i", "prompt": "pg",
                                       "steps": 30, "step_ms": 60}).json()["task_id"]
        order = ["QUEUED", "IN_PROGRESS", "SUCCESS"]
        last = {a: (0, 0), b: (0, 0)}
        progress_seen: set[int] = set()
        deadline = time.monotonic() + 60
        while min(last.values())[0] < 2:
            assert time.monotonic() < deadline, f"not final: {last}"
            for client in (a, b):
                data = client.get(f"{IMAGES}/{task_id}").json()["data"]
                seen = (order.index(data["status"]), int(data["progress"].rstrip("%")))
                assert seen >= last[client], f"went back from {last[client]} to {seen}"
                last[client] = seen
                progress_seen.add(seen[1])
        assert len(progress_seen) >= 3  # the polls saw the task advance, not just its end

        # Both feeds cut; a change committed while no one listens is never notified.
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            cut = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s AND datname = current_database()",
                [FEED_NAME]).fetchall()
            assert len(cut) == 2
            time.sleep(0.5)
            conn.execute("UPDATE tasks SET fail_reason = 'edited' WHERE id = %s", [task_id])
        for client in (a, b):
            data = client.get(f"{IMAGES}/{task_id}").json()["data"]
            assert data["fail_reason"] == "edited"

        # Listening again (the feeds reopen after a second): remembered, then deleted
        # through one server and gone through the other once its notification arrives.
        time.sleep(2)
        for client in (a, b, a, b):
            assert client.get(f"{IMAGES}/{task_id}").status_code == 200
        assert a.delete(f"/api/v1/tasks/{task_id}").status_code == 200
        assert a.get(f"{IMAGES}/{task_id}").status_code == 404
        wait_for(lambda: b.get(f"{IMAGES}/{task_id}").status_code == 404, timeout=2,
                 interval=0.01)


def test_a_status_feed_that_stops_receiving_notifications_is_distrusted_and_replaced(
        postgres_url):
    """As behind a pooler in transaction mode: the connection answers, notifications never
    come. The feed's pings are notifications, so it notices."""
    from genmill.store.connector import Database

    db = Database(postgres_url)
    db.migrate()
    feed = db.status_feed()
    feed.PING_EVERY, feed.TRUSTED_FOR, feed.LOST_AFTER = 0.1, 0.5, 1.5
    try:
        wait_for(lambda: feed.changes() is not None, timeout=10)  # adopted: no ping yet
        assert not feed._ping_running
        feed._pgconn.exec_(b"UNLISTEN *")  # still connected, no longer listening
        wait_for(lambda: feed.changes() is None, timeout=5)
        assert feed.epoch == 1
        wait_for(lambda: feed.changes() is not None and feed.epoch == 2, timeout=10)
    finally:
        feed.close()
        db.dispose()
