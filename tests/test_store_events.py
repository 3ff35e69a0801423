"""Task events, queue positions and deadlines in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from genmill.domain import Status
from genmill.store.connector import Database
from genmill.store.events import EventReader, EventStore
from genmill.store.queue import queue_position
from genmill.store.tasks import TaskStore
from tests.test_store import make_task


@pytest.fixture
def parts(database_url):
    db = Database(database_url)
    db.migrate()
    yield TaskStore(db), EventStore(db)
    db.dispose()


def test_each_visible_change_is_one_event_in_order(parts):
    store, events = parts
    task = make_task()
    store.insert(task)
    claimed = store.claim("w1", 30)
    assert claimed.id == task.id
    store.renew(task.id, "w1", 30)  # the lease only: not an event
    store.set_progress(task.id, "w1", 40, "half")
    store.set_progress(task.id, "w1", 40, "same progress, new message")  # not an event
    store.finish(task.id, "w1", Status.SUCCESS, ["image-1.png"])
    story = events.of_task(task.id, 0, events.last_seq())
    assert [(e.status, e.progress) for e in story] == [
        (Status.QUEUED, 0), (Status.IN_PROGRESS, 0), (Status.IN_PROGRESS, 40),
        (Status.SUCCESS, 100),
    ]
    assert [e.seq for e in story] == sorted({e.seq for e in story})
    assert story[-1].outputs == ("image-1.png",) and story[-1].owner == "alice"
    assert events.latest_of_task(task.id, events.last_seq()) == story[-1]
    assert events.latest_of_task(task.id, story[1].seq) == story[1]
    assert events.of_task(task.id, story[1].seq, story[2].seq) == story[2:3]


def test_events_of_an_owner_and_removal_with_the_task(parts):
    store, events = parts
    mine, theirs = make_task("alice"), make_task("bob")
    store.insert(mine)
    store.insert(theirs)
    store.cancel(mine.id)
    alice = events.of_owner("alice", 0, events.last_seq())
    assert [(e.id, e.status) for e in alice] == [(mine.id, Status.QUEUED),
                                                 (mine.id, Status.FAILURE)]
    assert alice[-1].fail_reason == "canceled"
    store.delete(mine.id)
    assert events.of_owner("alice", 0, events.last_seq()) == []
    assert [e.id for e in events.since(0)] == [theirs.id]


def test_a_reader_returns_each_event_once_in_order(parts):
    store, events = parts
    reader = EventReader(events, events.last_seq())
    tasks = [make_task() for _ in range(3)]
    for task in tasks:
        store.insert(task)
    first = reader.poll(0)
    assert [e.id for e in first] == [t.id for t in tasks]
    assert reader.poll(0) == []
    store.cancel(tasks[1].id)
    assert [(e.id, e.status) for e in reader.poll(0)] == [(tasks[1].id, Status.FAILURE)]


def test_queue_position_follows_priority_then_age(parts):
    store, _ = parts
    db = store.db
    first, second, urgent = make_task(), make_task(), make_task(priority=5)
    for task in (first, second, urgent):
        store.insert(task)
    assert [queue_position(db, t.id) for t in (urgent, first, second)] == [0, 1, 2]
    store.claim("w1", 30)  # takes the urgent one
    assert queue_position(db, urgent.id) is None
    assert [queue_position(db, t.id) for t in (first, second)] == [0, 1]
    assert queue_position(db, "image_" + "0" * 32) is None


def test_postgresql_holds_events_behind_an_uncommitted_one(postgres_url):
    """A sequence number is taken before its transaction commits: the reader must not
    pass it while that transaction may still commit, and must pass it once it is gone."""
    db = Database(postgres_url)
    db.migrate()
    store, events = TaskStore(db), EventStore(db)
    early, late, third = make_task(), make_task(), make_task()
    store.insert(early)
    store.insert(third)
    reader = EventReader(events, events.last_seq())
    with db.engine.connect() as open_tx:
        open_tx.begin()
        open_tx.execute(text("UPDATE tasks SET progress = 5 WHERE id = :id"),
                        {"id": early.id})  # takes an event number, does not commit
        store.insert(late)  # a later number, committed
        assert reader.poll(0) == []  # held behind the open transaction
        open_tx.commit()
    assert [(e.id, e.progress) for e in reader.poll(0)] == [(early.id, 5), (late.id, 0)]
    with db.engine.connect() as open_tx:
        open_tx.begin()
        open_tx.execute(text("UPDATE tasks SET progress = 9 WHERE id = :id"),
                        {"id": early.id})
        store.cancel(third.id)
        assert reader.poll(0) == []
        open_tx.rollback()  # its number is never used: a permanent gap
    # Every transaction that could fill the gap has ended: the reader passes it.
    assert [(e.id, e.status) for e in reader.poll(0)] == [(third.id, Status.FAILURE)]
    assert reader.poll(0) == []
    db.dispose()


def test_expired_deadlines_end_waiting_and_running_tasks(parts):
    import time

    from genmill.store.deadlines import expire_deadlines

    store, _ = parts
    waiting, running, later, free = make_task(), make_task(), make_task(), make_task()
    waiting.deadline = running.deadline = time.time() - 1
    later.deadline = time.time() + 3600
    for task in (running, waiting, later, free):
        store.insert(task)
    assert store.claim("w1", 30).id == running.id
    assert sorted(expire_deadlines(store.db)) == sorted([waiting.id, running.id])
    for task_id in (waiting.id, running.id):
        ended = store.get(task_id)
        assert (ended.status, ended.fail_reason) == (Status.FAILURE, "deadline exceeded")
    assert store.cancel_requested(running.id)  # its worker stops the engine...
    assert not store.finish(running.id, "w1", Status.FAILURE, fail_reason="canceled")
    assert store.get(running.id).fail_reason == "deadline exceeded"  # ...and keeps the reason
    assert store.get(later.id).status == store.get(free.id).status == Status.QUEUED
    assert expire_deadlines(store.db) == []
