"""The queries of the retention sweep: which tasks finished long enough ago, and removing
rows in batches (the count triggers keep list totals exact as rows go)."""

from __future__ import annotations

from sqlalchemy import delete, select

from genmill.domain import Status
from genmill.store.connector import Database
from genmill.store.schema import tasks

_FINAL = [Status.SUCCESS.value, Status.FAILURE.value]


def finished_before(db: Database, task_ids: list[str],
                    cutoff: float) -> list[tuple[str, str, float]]:
    """(id, owner, finish time) of those of `task_ids` whose task ended before `cutoff`
    (Unix seconds)."""
    if not task_ids:
        return []
    with db.read() as conn:
        rows = conn.execute(
            select(tasks.c.id, tasks.c.owner, tasks.c.finish_time)
            .where(tasks.c.id.in_(task_ids), tasks.c.status.in_(_FINAL),
                   tasks.c.finish_time < cutoff)
        ).all()
    return [tuple(row) for row in rows]


def oldest_finished(db: Database, cutoff: float, limit: int) -> list[str]:
    """Up to `limit` ids of tasks that ended before `cutoff`, oldest first."""
    with db.read() as conn:
        rows = conn.execute(
            select(tasks.c.id).where(tasks.c.status.in_(_FINAL), tasks.c.finish_time < cutoff)
            .order_by(tasks.c.finish_time).limit(limit)
        ).all()
    return [row[0] for row in rows]


def delete_finished(db: Database, task_ids: list[str], cutoff: float) -> int:
    """Remove these rows, if still finished before `cutoff`; returns how many went."""
    if not task_ids:
        return 0
    with db.write() as conn:
        result = conn.execute(
            delete(tasks).where(tasks.c.id.in_(task_ids), tasks.c.status.in_(_FINAL),
                                tasks.c.finish_time < cutoff)
        )
    return result.rowcount
