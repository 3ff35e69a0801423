"""Where a waiting task stands in the queue: how many tasks a worker takes before it.

Workers claim the highest priority first, then the oldest (`TaskStore.claim`), so the
tasks ahead are the queued ones with a higher priority, or the same priority and an
earlier `seq`. The count walks the queue index up to the task's own place.
"""

from __future__ import annotations

from sqlalchemy import and_, bindparam, func, or_, select

from genmill.domain import Status
from genmill.store.connector import Database
from genmill.store.schema import tasks

# Every value a bound parameter: the SQLite fast path (Database.fetch_all) binds by name.
_QUEUED = {"queued": Status.QUEUED.value}
_PLACE = select(tasks.c.priority, tasks.c.seq).where(
    tasks.c.id == bindparam("task_id"), tasks.c.status == bindparam("queued")
)
_AHEAD = select(func.count()).select_from(tasks).where(
    tasks.c.status == bindparam("queued"),
    or_(tasks.c.priority > bindparam("priority"),
        and_(tasks.c.priority == bindparam("priority"), tasks.c.seq < bindparam("seq"))),
)


def queue_position(db: Database, task_id: str) -> int | None:
    """0 for the next task a worker will take; None when the task is not waiting."""
    place = db.fetch_one(_PLACE, {"task_id": task_id, **_QUEUED})
    if place is None:
        return None
    priority, seq = place
    (ahead,) = db.fetch_one(_AHEAD, {"priority": priority, "seq": seq, **_QUEUED})
    return int(ahead)
