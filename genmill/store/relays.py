"""Relay tasks' upstream ids: which upstream task a genmill task is waiting on.

A relay (worker/relay_runner.py) writes the upstream task id here right after the
upstream accepted the task and before it starts waiting, so a relay runner that dies and
a task that is claimed again resume polling that same upstream task instead of
submitting a second one. The row goes when the task ends.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sqlalchemy import (
    Column,
    Float,
    MetaData,
    String,
    Table,
    bindparam,
    delete,
    insert,
    select,
    update,
)

if TYPE_CHECKING:  # migrations (imported by the connector) create the table from here
    from genmill.store.connector import Database

relay_jobs = Table(
    "relay_jobs",
    MetaData(),
    Column("task_id", String(64), primary_key=True),
    Column("upstream_id", String(500), nullable=False),
    Column("submitted_at", Float, nullable=False),
)


# Built once: a relay runner runs these for every task it relays.
_UPSTREAM_ID = select(relay_jobs.c.upstream_id).where(
    relay_jobs.c.task_id == bindparam("job_task_id"))
_REPLACE = (update(relay_jobs).where(relay_jobs.c.task_id == bindparam("job_task_id"))
            .values(upstream_id=bindparam("job_upstream_id"),
                    submitted_at=bindparam("job_submitted_at")))
_ADD = insert(relay_jobs).values(task_id=bindparam("job_task_id"),
                                 upstream_id=bindparam("job_upstream_id"),
                                 submitted_at=bindparam("job_submitted_at"))
_FORGET = delete(relay_jobs).where(relay_jobs.c.task_id == bindparam("job_task_id"))


def upstream_id(db: Database, task_id: str) -> str | None:
    """The upstream task this task waits on, if one was submitted."""
    row = db.fetch_one(_UPSTREAM_ID, {"job_task_id": task_id})
    return row[0] if row else None


def record(db: Database, task_id: str, upstream: str) -> None:
    """Remember the upstream task (once per task: a second record replaces the first)."""
    values = {"job_task_id": task_id, "job_upstream_id": upstream,
              "job_submitted_at": time.time()}
    with db.write() as conn:
        if not conn.execute(_REPLACE, values).rowcount:
            conn.execute(_ADD, values)


def forget(db: Database, task_id: str) -> None:
    with db.write() as conn:
        conn.execute(_FORGET, {"job_task_id": task_id})
