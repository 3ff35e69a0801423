"""What /metrics reads from the database, so that every API replica reports the same:
task counts by model and status (the trigger-kept `task_counts`), run time and queue wait
histograms by model (`task_timings`, kept by triggers as tasks end), live workers.

`task_timings` holds one row per (model, metric, bucket): how many tasks fell in that
bucket (not cumulative) and their summed seconds. A trigger adds each task as it reaches
SUCCESS or FAILURE, in the same transaction, so no worker code takes part and a scrape
reads a few rows per model instead of scanning the task table.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, func, select

from genmill.store.schema import task_counts as counts
from genmill.store.schema import workers

if TYPE_CHECKING:  # migrations (imported by the connector) create the table from here
    from sqlalchemy import Connection

    from genmill.store.connector import Database

BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
INF = 1e18  # the +Inf bucket's stored bound
# (metric, seconds as SQL over a task row) recorded when a task ends.
TIMINGS = (("run", "{row}.finish_time - {row}.start_time"),
           ("wait", "{row}.start_time - {row}.submit_time"))

task_timings = Table(
    "task_timings",
    MetaData(),
    Column("model", String(200), primary_key=True),
    Column("metric", String(16), primary_key=True),
    Column("le", Float, primary_key=True),
    Column("n", Integer, nullable=False),
    Column("total", Float, nullable=False),
)
_UPSERT = ("ON CONFLICT (model, metric, le) DO UPDATE SET n = task_timings.n + excluded.n, "
           "total = task_timings.total + excluded.total")


def _bucket(seconds: str) -> str:
    cases = " ".join(f"WHEN {seconds} <= {bound} THEN {bound}" for bound in BUCKETS)
    return f"CASE {cases} ELSE {INF} END"


def create_timings(conn: Connection) -> None:
    """The table, its trigger on each dialect, and the tasks that already ended."""
    task_timings.create(conn)
    final = "('SUCCESS', 'FAILURE')"
    for metric, expression in TIMINGS:
        seconds = expression.format(row="tasks")
        conn.exec_driver_sql(
            f"INSERT INTO task_timings (model, metric, le, n, total) "
            f"SELECT model, '{metric}', {_bucket(seconds)}, count(*), sum({seconds}) FROM tasks "
            f"WHERE status IN {final} AND start_time IS NOT NULL AND finish_time IS NOT NULL "
            f"GROUP BY model, {_bucket(seconds)}")
    inserts = []
    for metric, expression in TIMINGS:
        seconds = expression.format(row="NEW")
        inserts.append(
            f"INSERT INTO task_timings (model, metric, le, n, total) "
            f"SELECT NEW.model, '{metric}', {_bucket(seconds)}, 1, {seconds} "
            f"WHERE NEW.start_time IS NOT NULL AND NEW.finish_time IS NOT NULL {_UPSERT}")
    if conn.dialect.name == "sqlite":
        body = "; ".join(inserts)
        conn.exec_driver_sql(
            f"CREATE TRIGGER tasks_timed AFTER UPDATE OF status ON tasks "
            f"WHEN OLD.status <> NEW.status AND NEW.status IN {final} BEGIN {body}; END")
    else:
        body = "; ".join(inserts)
        conn.exec_driver_sql(f"""
            CREATE FUNCTION genmill_time_tasks() RETURNS trigger AS $$
            BEGIN {body}; RETURN NULL; END $$ LANGUAGE plpgsql""")
        conn.exec_driver_sql(
            "CREATE TRIGGER tasks_timed AFTER UPDATE OF status ON tasks FOR EACH ROW "
            f"WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.status IN {final}) "
            "EXECUTE FUNCTION genmill_time_tasks()")


def task_counts(db: Database) -> list[tuple[str, str, int]]:
    """(model, status, tasks) over every owner."""
    with db.read() as conn:
        rows = conn.execute(
            select(counts.c.model, counts.c.status, func.sum(counts.c.n))
            .group_by(counts.c.model, counts.c.status)
        ).all()
    return [(model, status, int(n)) for model, status, n in rows if n]


def timings(db: Database) -> list[tuple[str, str, float, int, float]]:
    """(model, metric, bucket bound, tasks in that bucket, their seconds)."""
    with db.read() as conn:
        rows = conn.execute(select(task_timings.c.model, task_timings.c.metric,
                                   task_timings.c.le, task_timings.c.n,
                                   task_timings.c.total)).all()
    return [tuple(row) for row in rows]


def live_workers_by_host(db: Database, within_seconds: float) -> list[tuple[str, int]]:
    since = time.time() - within_seconds
    with db.read() as conn:
        rows = conn.execute(
            select(workers.c.host, func.count()).where(workers.c.last_seen >= since)
            .group_by(workers.c.host)
        ).all()
    return [(host, int(n)) for host, n in rows]
