"""The store on SQLite and on PostgreSQL: the same tests, both databases."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from genmill.domain import Kind, Status, Task, new_task_id
from genmill.store.connector import Database
from genmill.store.migrations import MIGRATIONS
from genmill.store.tasks import TaskStore


@pytest.fixture
def store(database_url) -> TaskStore:
    db = Database(database_url)
    db.migrate()
    yield TaskStore(db)
    db.dispose()


def make_task(owner: str = "alice", kind: Kind = Kind.IMAGE, priority: int = 0,
              max_attempts: int = 2) -> Task:
    return Task(
        id=new_task_id(kind), kind=kind, action=kind.action, model="test/steps-t2i",
        owner=owner, status=Status.QUEUED, params={"prompt": "p", "seed": 7},
        submit_time=time.time(), max_attempts=max_attempts, priority=priority,
        time_limit=30,
    )


def test_migrations_are_versioned_and_idempotent(database_url):
    db = Database(database_url)
    assert db.migrate() == [v for v, _ in MIGRATIONS]
    assert db.migrate() == []
    db.dispose()


def test_a_current_schema_is_checked_without_the_write_lock(tmp_path):
    """Every server and worker process migrates on start; with the schema current that is
    a read, so it does not queue behind busy workers for SQLite's one write lock."""
    import sqlite3

    url = f"sqlite:///{tmp_path / 'g.db'}"
    Database(url).migrate()
    writer = sqlite3.connect(tmp_path / "g.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process mid-write, holding the lock
    try:
        db = Database(url)
        assert db.migrate() == []  # with a write it would wait, then fail "database is locked"
        db.dispose()
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_insert_and_get_round_trip(store):
    task = make_task()
    store.insert(task)
    got = store.get(task.id)
    assert got == task
    assert store.get(new_task_id(Kind.IMAGE)) is None


def test_claim_is_fifo_within_priority_and_leases(store):
    low, high, low2 = make_task(), make_task(priority=5), make_task()
    for task in (low, high, low2):
        store.insert(task)
    order = [store.claim("w1", 30).id for _ in range(3)]
    assert order == [high.id, low.id, low2.id]
    assert store.claim("w1", 30) is None
    claimed = store.get(low.id)
    assert claimed.status == Status.IN_PROGRESS
    assert claimed.lease_owner == "w1" and claimed.lease_expires > time.time()
    assert claimed.attempts == 1 and claimed.start_time is not None


def test_a_worker_prefers_its_loaded_model_until_another_task_waited_too_long(store):
    """Model affinity (worker/affinity.py): tasks of the loaded model first, then the rest
    in order; but a task that waited past `fair_after` comes before them all."""
    import dataclasses

    def task(model: str, waited: float = 0.0) -> Task:
        made = dataclasses.replace(make_task(), model=model,
                                   submit_time=time.time() - waited)
        store.insert(made)
        return made

    other, loaded, loaded2 = task("m/other"), task("m/loaded"), task("m/loaded")
    claims = [store.claim("w1", 30, prefer=["m/loaded"], fair_after=60).id for _ in range(3)]
    assert claims == [loaded.id, loaded2.id, other.id]

    task("m/loaded", waited=1)
    starved = task("m/other", waited=120)  # newer row, but waiting past the bound
    task("m/loaded")
    assert store.claim("w1", 30, prefer=["m/loaded"], fair_after=60).id == starved.id
    # Without a preference the order is the plain queue's.
    assert store.claim("w1", 30).model == "m/loaded"


def test_workers_report_their_device_and_loaded_models(store):
    store.worker_seen("w-gpu", "box", 11, time.time(), "cuda:1", ["a/b", "a/c"])
    store.worker_seen("w-cpu", "box", 12, time.time())
    store.worker_seen("w-gpu", "box", 11, time.time(), "cuda:1", ["a/b"])  # one unloaded
    assert store.worker_list(30) == [
        {"host": "box", "pid": 12, "device": "cpu", "loaded": []},
        {"host": "box", "pid": 11, "device": "cuda:1", "loaded": ["a/b"]},
    ]


def test_concurrent_claims_never_hand_out_a_task_twice(database_url):
    db = Database(database_url)
    db.migrate()
    store = TaskStore(db)
    ids = set()
    for _ in range(60):
        task = make_task()
        store.insert(task)
        ids.add(task.id)
    claimed: list[str] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        own = TaskStore(Database(database_url))
        while (task := own.claim(name, 30)) is not None:
            with lock:
                claimed.append(task.id)
        own.db.dispose()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids)  # each exactly once
    db.dispose()


def test_a_submit_wakes_an_idle_worker_at_once(store):
    """An idle worker's wait ends when a submit commits (SQLite: the wake file; PostgreSQL:
    NOTIFY), long before its regular poll; a write that adds no work wakes no one."""
    waiter = store.db.work_waiter(poll_interval=30)
    try:
        store.set_progress("no-such-task", "w", 5, "")  # a commit, but no new work
        started = time.monotonic()
        waiter.wait(0.5)
        assert time.monotonic() - started >= 0.4  # it slept: nothing to wake it for

        timer = threading.Timer(0.3, lambda: store.insert(make_task()))
        timer.start()
        started = time.monotonic()
        waiter.wait(20)
        woke_after = time.monotonic() - started
        timer.join()
        assert 0.25 <= woke_after < 5, woke_after  # the submit, not the 20 s timeout
    finally:
        waiter.close()


def test_progress_is_monotonic_and_only_for_the_lease_holder(store):
    task = make_task()
    store.insert(task)
    store.claim("w1", 30)
    assert store.set_progress(task.id, "w1", 40, "half")
    assert not store.set_progress(task.id, "w1", 20, "back")  # never backwards
    assert not store.set_progress(task.id, "w2", 60, "not mine")
    assert store.get(task.id).progress == 40


def test_finish_success_and_failure(store):
    ok, bad = make_task(), make_task()
    store.insert(ok)
    store.insert(bad)
    store.claim("w1", 30)
    store.claim("w1", 30)
    assert store.finish(ok.id, "w1", Status.SUCCESS, outputs=["a.png"])
    assert store.finish(bad.id, "w1", Status.FAILURE, fail_reason="boom")
    assert not store.finish(ok.id, "w1", Status.FAILURE)  # already final
    done = store.get(ok.id)
    assert (done.status, done.progress, done.outputs) == (Status.SUCCESS, 100, ["a.png"])
    assert done.finish_time and done.lease_owner is None
    failed = store.get(bad.id)
    assert (failed.status, failed.fail_reason) == (Status.FAILURE, "boom")


def test_renew_reports_cancel_and_loss(store):
    task = make_task()
    store.insert(task)
    store.claim("w1", 1)
    assert store.renew(task.id, "w1", 30).held
    store.cancel(task.id)
    state = store.renew(task.id, "w1", 30)
    assert state.held and state.cancel_requested
    assert not store.renew(task.id, "other", 30).held


def test_cancel_ends_a_queued_task_at_once(store):
    task = make_task()
    store.insert(task)
    canceled = store.cancel(task.id)
    assert (canceled.status, canceled.fail_reason) == (Status.FAILURE, "canceled")
    assert store.claim("w1", 30) is None


def test_reaper_requeues_then_fails_after_max_attempts(store):
    task = make_task(max_attempts=2)
    store.insert(task)
    store.claim("w1", -1)  # a lease that already ran out
    assert [(r.task_id, r.status) for r in store.reap()] == [(task.id, Status.QUEUED)]
    assert store.get(task.id).status == Status.QUEUED
    again = store.claim("w2", -1)
    assert again.id == task.id and again.attempts == 2
    assert [(r.task_id, r.status) for r in store.reap()] == [(task.id, Status.FAILURE)]
    failed = store.get(task.id)
    assert failed.status == Status.FAILURE and "worker lost" in failed.fail_reason


def test_reaper_leaves_live_leases_alone(store):
    task = make_task()
    store.insert(task)
    store.claim("w1", 30)
    assert store.reap() == []
    assert store.get(task.id).status == Status.IN_PROGRESS


def test_release_returns_a_task_without_spending_an_attempt(store):
    task = make_task()
    store.insert(task)
    store.claim("w1", 30)
    assert store.release(task.id, "w1")
    back = store.get(task.id)
    assert (back.status, back.attempts, back.lease_owner) == (Status.QUEUED, 0, None)


def test_list_pages_newest_first_per_owner_with_filters(store):
    mine = [make_task() for _ in range(5)]
    for task in mine:
        store.insert(task)
    store.insert(make_task(owner="bob"))
    video = make_task(kind=Kind.VIDEO)
    store.insert(video)
    page, total = store.list("alice", 0, 3)
    assert total == 6
    assert [t.id for t in page] == [video.id, mine[4].id, mine[3].id]
    page2, _ = store.list("alice", 3, 3)
    assert [t.id for t in page2] == [mine[2].id, mine[1].id, mine[0].id]
    only_video, total_video = store.list("alice", 0, 10, kind=Kind.VIDEO)
    assert [t.id for t in only_video] == [video.id] and total_video == 1
    queued, _ = store.list("alice", 0, 10, statuses=[Status.SUCCESS])
    assert queued == []


def test_delete(store):
    task = make_task()
    store.insert(task)
    assert store.delete(task.id)
    assert store.get(task.id) is None
    assert not store.delete(task.id)


def test_worker_registry(store):
    store.worker_seen("w1", "host", 123, time.time())
    store.worker_seen("w1", "host", 123, time.time())
    assert store.live_workers(10) == 1
    store.worker_gone("w1")
    assert store.live_workers(10) == 0


def test_list_totals_stay_exact_through_every_transition(store):
    """The trigger-kept counts agree with a real count after inserts, moves and deletes."""
    from sqlalchemy import func, select

    from genmill.store.schema import tasks

    made = [make_task() for _ in range(4)] + [make_task(kind=Kind.VIDEO)]
    for task in made:
        store.insert(task)
    store.claim("w", 30)
    second = store.claim("w", -1)  # its lease already ran out
    store.finish(made[0].id, "w", Status.SUCCESS, outputs=[])
    store.reap()  # the second goes back to QUEUED
    store.cancel(made[2].id)
    store.delete(made[3].id)
    for statuses in (None, [Status.SUCCESS], [Status.QUEUED], [Status.FAILURE]):
        _, total = store.list("alice", 0, 1, statuses=statuses)
        with store.db.read() as conn:
            query = select(func.count()).select_from(tasks).where(tasks.c.owner == "alice")
            if statuses:
                query = query.where(tasks.c.status.in_([s.value for s in statuses]))
            assert total == conn.execute(query).scalar_one(), statuses
    assert store.list("alice", 0, 10, statuses=[Status.QUEUED])[1] == 2  # second + video
    assert second is not None


def test_every_move_the_store_makes_is_one_the_state_machine_allows(store):
    """The store's UPDATEs and core's TRANSITIONS describe the same lifecycle."""
    from genmill.domain import can_move

    def moves(task_id, action):
        before = store.get(task_id).status
        action()
        after = store.get(task_id).status
        assert before == after or can_move(before, after), (before, after)
        return after

    a, b, c = make_task(), make_task(), make_task(max_attempts=1)
    for task in (a, b, c):
        store.insert(task)
    moves(a.id, lambda: store.claim("w", 30))                      # QUEUED -> IN_PROGRESS
    moves(a.id, lambda: store.release(a.id, "w"))                  # -> QUEUED
    moves(a.id, lambda: store.claim("w", 30))
    moves(a.id, lambda: store.finish(a.id, "w", Status.SUCCESS))   # -> SUCCESS
    moves(b.id, lambda: store.cancel(b.id))                        # QUEUED -> FAILURE
    moves(c.id, lambda: store.claim("w", -1))  # its lease already ran out
    assert moves(c.id, store.reap) == Status.FAILURE               # lost, out of attempts


def test_status_reads_on_an_event_loop_see_every_committed_write(store, database_url):
    """Polls run on the server's event loop. There SQLite reads share a transaction per
    loop turn and hand back remembered statuses while nothing was written: neither may
    ever show a task older than the last commit before the turn began."""
    worker = TaskStore(Database(database_url))  # another connection, as a worker's is
    task, later = make_task(), make_task()
    store.insert(task)
    worker.claim("w1", 30)

    async def polls() -> list:
        seen = [store.get_status(task.id).progress]
        worker.set_progress(task.id, "w1", 40, "")
        await asyncio.sleep(0)  # a new turn
        seen.append(store.get_status(task.id).progress)
        worker.finish(task.id, "w1", Status.SUCCESS, ["image-1.png"])
        await asyncio.sleep(0)
        seen.append((store.get_status(task.id).status, store.get_status(task.id).outputs))
        worker.delete(task.id)
        await asyncio.sleep(0)
        seen.append(store.get_status(task.id))
        store.insert(later)  # written on this thread: seen within the same turn
        seen.append(store.get_status(later.id).status)
        return seen

    try:
        assert asyncio.run(polls()) == [
            0, 40, (Status.SUCCESS, ("image-1.png",)), None, Status.QUEUED
        ]
        assert store.get_status(later.id).status == Status.QUEUED  # and off the loop
    finally:
        worker.db.dispose()


def test_sqlite_reads_of_one_loop_turn_share_one_snapshot(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store, worker = TaskStore(Database(url)), TaskStore(Database(url))
    store.db.migrate()
    task = make_task()
    store.insert(task)
    worker.claim("w1", 30)

    async def turns():
        first = store.get_status(task.id)
        worker.set_progress(task.id, "w1", 40, "")
        same_turn = store.get_status(task.id)  # the turn's snapshot predates the write
        await asyncio.sleep(0)
        next_turn = store.get_status(task.id)
        await asyncio.sleep(0)
        unchanged = store.get_status(task.id)
        return first, same_turn, next_turn, unchanged

    first, same_turn, next_turn, unchanged = asyncio.run(turns())
    assert same_turn is first and first.progress == 0
    assert next_turn.progress == 40
    assert unchanged is next_turn  # nothing written since: the remembered status


def test_sqlite_status_memo_drops_only_what_changed(tmp_path):
    """Remembered statuses survive other tasks' commits; a changed, deleted or pruned-away
    task is read again."""
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'store.db'}"
    store, worker = TaskStore(Database(url)), TaskStore(Database(url))
    store.db.migrate()
    idle, running = make_task(), make_task()
    for task in (idle, running):
        store.insert(task)
    worker.claim("w1", 30)  # the older task: `idle` is the one running from here on
    idle, running = running, idle

    async def turns():
        seen = {"idle": [store.get_status(idle.id)], "running": [store.get_status(running.id)]}
        worker.set_progress(running.id, "w1", 30, "")
        await asyncio.sleep(0)
        seen["idle"].append(store.get_status(idle.id))
        seen["running"].append(store.get_status(running.id))
        worker.set_progress(running.id, "w1", 50, "")
        with worker.db.write() as conn:  # pruned before this memo saw it
            conn.execute(text("DELETE FROM task_changes"))
        worker.set_progress(running.id, "w1", 60, "")
        await asyncio.sleep(0)
        seen["idle"].append(store.get_status(idle.id))
        worker.delete(idle.id)
        await asyncio.sleep(0)
        seen["idle"].append(store.get_status(idle.id))
        return seen

    seen = asyncio.run(turns())
    first, kept, reread, deleted = seen["idle"]
    assert kept is first  # another task's commit left it alone
    assert reread == first and reread is not first  # a gap in the feed: all dropped
    assert deleted is None
    assert [s.progress for s in seen["running"]] == [0, 30]


def test_sqlite_change_feed_keeps_the_newest_changes(tmp_path):
    from sqlalchemy import func, insert, select

    from genmill.store.schema import CHANGES_KEPT, task_changes, tasks
    from genmill.store.tasks import _task_to_values

    db = Database(f"sqlite:///{tmp_path / 'store.db'}")
    db.migrate()
    with db.write() as conn:
        conn.execute(insert(tasks), [_task_to_values(make_task()) for _ in range(CHANGES_KEPT + 5)])
        count, first, last = conn.execute(
            select(func.count(), func.min(task_changes.c.seq), func.max(task_changes.c.seq))
        ).one()
    assert (count, first, last) == (CHANGES_KEPT, 6, CHANGES_KEPT + 5)
    db.dispose()


def test_migrations_run_in_one_transaction_all_or_nothing(database_url, monkeypatch):
    """A step that fails undoes the steps before it too: the database stays as it was."""
    from sqlalchemy import inspect

    from genmill.store import migrations

    def broken(conn) -> None:
        raise RuntimeError("step 2 fails")

    monkeypatch.setattr(migrations, "MIGRATIONS", [MIGRATIONS[0], (2, broken)])
    db = Database(database_url)
    with pytest.raises(RuntimeError, match="step 2 fails"):
        db.migrate()
    assert inspect(db.engine).get_table_names() == []  # step 1's tables are gone too
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS)
    assert db.migrate() == [v for v, _ in MIGRATIONS]  # and a retry applies them all
    db.dispose()


def _changes(db: Database) -> list[str]:
    from sqlalchemy import select

    from genmill.store.schema import task_changes

    with db.read() as conn:
        return list(conn.execute(select(task_changes.c.task_id).order_by(task_changes.c.seq))
                    .scalars())


def test_sqlite_change_feed_logs_only_what_a_poll_shows(tmp_path):
    """Lease renewals (a running task's heartbeat), a cancel flag and a message-only
    update leave the feed, and so the status memo, alone; what a poll shows does not."""
    store = TaskStore(Database(f"sqlite:///{tmp_path / 'store.db'}"))
    store.db.migrate()
    task = make_task()
    store.insert(task)
    store.claim("w1", 30)
    assert _changes(store.db) == [task.id, task.id]  # inserted, claimed

    assert store.renew(task.id, "w1", 30).held
    store.cancel(task.id)  # running: only flags it for the worker
    assert store.set_progress(task.id, "w1", 0, "same progress, new message")
    assert _changes(store.db) == [task.id, task.id]

    assert store.set_progress(task.id, "w1", 40, "")
    assert store.finish(task.id, "w1", Status.FAILURE, fail_reason="canceled")
    assert _changes(store.db) == [task.id] * 4
    store.db.dispose()


def test_sqlite_database_at_version_3_upgrades_to_the_narrow_feed(tmp_path, monkeypatch):
    """A database made by the release before keeps its tasks and feed through migration 4."""
    from genmill.store import migrations

    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS[:3])
    old = TaskStore(Database(url))
    assert old.db.migrate() == [1, 2, 3]
    task = make_task()
    old.insert(task)
    old.claim("w1", 30)
    old.renew(task.id, "w1", 30)
    assert _changes(old.db) == [task.id] * 3  # version 3 logged the renewal too
    old.db.dispose()

    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS)
    new = TaskStore(Database(url))
    assert new.db.migrate()[0] == 4  # and every later version
    new.renew(task.id, "w1", 30)
    assert _changes(new.db) == [task.id] * 3
    new.set_progress(task.id, "w1", 10, "")
    assert _changes(new.db) == [task.id] * 4
    assert new.get(task.id).progress == 10
    new.db.dispose()


def test_insert_under_a_limit_counts_only_waiting_and_running_tasks(store):
    first, second = make_task(), make_task()
    assert store.insert(first, max_unfinished=2)
    assert store.insert(second, max_unfinished=2)
    third = make_task()
    assert not store.insert(third, max_unfinished=2)
    assert store.get(third.id) is None  # nothing stored
    assert store.insert(make_task(owner="bob"), max_unfinished=2)  # per owner
    store.claim("w1", 30)  # running still counts
    assert not store.insert(third, max_unfinished=2)
    store.cancel(second.id)  # ended
    assert store.insert(third, max_unfinished=2)
    assert store.count_unfinished("alice") == 2


def test_insert_under_a_limit_is_atomic_across_connections(database_url):
    """Concurrent inserts of one owner, each on a connection of its own (as the submit
    threads of several server processes are): exactly `limit` get in."""
    db = Database(database_url)
    db.migrate()
    limit, tries = 3, 24
    stores = [TaskStore(Database(database_url)) for _ in range(tries)]
    start = threading.Barrier(tries)
    results: list[bool] = []

    def submit(own: TaskStore) -> None:
        task = make_task()
        start.wait()
        results.append(own.insert(task, max_unfinished=limit))

    threads = [threading.Thread(target=submit, args=(own,)) for own in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * (tries - limit) + [True] * limit
    assert TaskStore(db).count_unfinished("alice") == limit
    for own in stores:
        own.db.dispose()
    db.dispose()


@pytest.mark.parametrize("many", [False, True])
def test_a_claim_that_waited_for_the_write_lock_still_gets_a_whole_lease(tmp_path, many):
    """A claim's lease runs from when it took the task, not from when it asked: on SQLite
    it may wait for the write lock, and a lease counted from before that wait was seen
    to expire 3 s after the claim (bench/load.py), so the task ran a second time."""
    import sqlite3

    db = Database(f"sqlite:///{tmp_path / 'store.db'}")
    db.migrate()
    store = TaskStore(db)
    task = make_task()
    store.insert(task)
    blocker = sqlite3.connect(tmp_path / "store.db", isolation_level=None,
                              check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock for a while
    threading.Timer(1.5, blocker.rollback).start()
    if many:
        (claimed,) = store.claim_many("worker-1", 1.0, [task.model], 5)
    else:
        claimed = store.claim("worker-1", 1.0)
    taken_at = time.time()
    assert claimed.id == task.id
    assert claimed.lease_expires >= taken_at + 0.9  # a whole lease (1 s) from now
    db.dispose()
