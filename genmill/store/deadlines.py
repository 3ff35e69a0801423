"""Deadlines: a task not final by its `deadline` fails with "deadline exceeded".

A waiting task ends at once. A running one ends too, and loses its lease, and is flagged
canceled: its worker sees the flag within half a second, stops the engine, and finds the
task no longer its own, so the reason stays "deadline exceeded". One UPDATE, safe to run
from every supervisor on the database.
"""

from __future__ import annotations

import time

from sqlalchemy import update

from genmill.domain import Status
from genmill.store.connector import Database
from genmill.store.schema import tasks

REASON = "deadline exceeded"
_UNFINISHED = [s.value for s in Status if not s.is_final]


def expire_deadlines(db: Database) -> list[str]:
    """End every unfinished task whose deadline has passed; their ids."""
    now = time.time()
    with db.single() as conn:  # one statement (each supervisor runs it twice a second)
        rows = conn.execute(
            update(tasks)
            .where(tasks.c.deadline <= now, tasks.c.status.in_(_UNFINISHED))
            .values(status=Status.FAILURE.value, fail_reason=REASON, finish_time=now,
                    cancel_requested=True, lease_owner=None, lease_expires=None)
            .returning(tasks.c.id)
        ).all()
    return [row[0] for row in rows]
