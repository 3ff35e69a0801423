"""Relay tasks' upstream ids: which upstream task a genmill task is waiting on.

A relay (worker/relay_runner.py) writes the upstream task id here right after the
upstream accepted the task and before it starts waiting, so a relay runner that dies and
a task that is claimed again resume polling that same upstream task instead of
submitting a second one. The rows of ended (or deleted) tasks are swept in one statement
now and then (`sweep`): a delete per task cost a write transaction each.
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
    exists,
    insert,
    select,
    update,
)

from genmill.domain import Status
from genmill.store.schema import tasks

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
_UPSTREAM_IDS = select(relay_jobs.c.task_id, relay_jobs.c.upstream_id).where(
    relay_jobs.c.task_id.in_(bindparam("job_task_ids", expanding=True)))
_REPLACE = (update(relay_jobs).where(relay_jobs.c.task_id == bindparam("job_task_id"))
            .values(upstream_id=bindparam("job_upstream_id"),
                    submitted_at=bindparam("job_submitted_at")))
_ADD = insert(relay_jobs).values(task_id=bindparam("job_task_id"),
                                 upstream_id=bindparam("job_upstream_id"),
                                 submitted_at=bindparam("job_submitted_at"))
_SWEEP = delete(relay_jobs).where(~exists().where(
    tasks.c.id == relay_jobs.c.task_id,
    tasks.c.status.not_in([Status.SUCCESS.value, Status.FAILURE.value])))


def upstream_ids(db: Database, task_ids: list[str]) -> dict[str, str]:
    """The upstream tasks these tasks wait on, for those that have one."""
    if not task_ids:
        return {}
    with db.read() as conn:
        return dict(conn.execute(_UPSTREAM_IDS, {"job_task_ids": task_ids}).all())


def record(db: Database, task_id: str, upstream: str) -> None:
    """Remember the upstream task (once per task: a second record replaces the first)."""
    values = {"job_task_id": task_id, "job_upstream_id": upstream,
              "job_submitted_at": time.time()}
    with db.write() as conn:
        if not conn.execute(_REPLACE, values).rowcount:
            conn.execute(_ADD, values)


def sweep(db: Database) -> int:
    """Forget the upstream ids of ended and deleted tasks; how many were forgotten."""
    with db.write() as conn:
        return conn.execute(_SWEEP).rowcount
