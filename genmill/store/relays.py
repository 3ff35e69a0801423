"""Relay tasks' upstream ids: which upstream task a genmill task is waiting on.

A relay (worker/relay_runner.py) writes the upstream task id here right after the
upstream accepted the task and before it starts waiting, so a relay runner that dies and
a task that is claimed again resume polling that same upstream task instead of
submitting a second one. The row goes when the task ends.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sqlalchemy import Column, Float, MetaData, String, Table, delete, insert, select, update

if TYPE_CHECKING:  # migrations (imported by the connector) create the table from here
    from genmill.store.connector import Database

relay_jobs = Table(
    "relay_jobs",
    MetaData(),
    Column("task_id", String(64), primary_key=True),
    Column("upstream_id", String(500), nullable=False),
    Column("submitted_at", Float, nullable=False),
)


def upstream_id(db: Database, task_id: str) -> str | None:
    """The upstream task this task waits on, if one was submitted."""
    with db.read() as conn:
        return conn.execute(select(relay_jobs.c.upstream_id)
                            .where(relay_jobs.c.task_id == task_id)).scalar()


def record(db: Database, task_id: str, upstream: str) -> None:
    """Remember the upstream task (once per task: a second record replaces the first)."""
    with db.write() as conn:
        changed = conn.execute(
            update(relay_jobs).where(relay_jobs.c.task_id == task_id)
            .values(upstream_id=upstream, submitted_at=time.time())
        ).rowcount
        if not changed:
            conn.execute(insert(relay_jobs).values(task_id=task_id, upstream_id=upstream,
                                                   submitted_at=time.time()))


def forget(db: Database, task_id: str) -> None:
    with db.write() as conn:
        conn.execute(delete(relay_jobs).where(relay_jobs.c.task_id == task_id))
