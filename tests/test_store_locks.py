"""SQLite's one write lock: processes that only look must not take it."""

from __future__ import annotations

import sqlite3
import time

from genmill.domain import Kind, Status, Task, new_task_id
from genmill.store.connector import Database
from genmill.store.tasks import TaskStore


def _held_write_lock(path) -> sqlite3.Connection:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


def test_an_idle_claim_and_a_current_migrate_do_not_wait_for_the_write_lock(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'q.db'}")
    db.migrate()
    store = TaskStore(db)
    holder = _held_write_lock(tmp_path / "q.db")  # a writer busy for as long as it likes
    try:
        started = time.monotonic()
        assert store.claim("w1", 30) is None  # nothing queued: answered by a read
        assert db.migrate() == []  # already current: answered by a read
        # Both would otherwise wait out the 30 s busy timeout behind the holder.
        assert time.monotonic() - started < 10
    finally:
        holder.rollback()
        holder.close()
    task = Task(id=new_task_id(Kind.IMAGE), kind=Kind.IMAGE, model="m", owner="o",
                submit_time=time.time())
    store.insert(task)
    claimed = store.claim("w1", 30)
    assert claimed is not None and claimed.id == task.id
    assert claimed.status == Status.IN_PROGRESS
    db.dispose()
