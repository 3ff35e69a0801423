"""Versioned schema migrations, applied in order at start.

All pending migrations run in one transaction, with their version rows: both databases
have transactional DDL, so a start either brings the schema to the newest version or,
if any step fails, leaves it exactly as it found it. A database is then only ever at a
version some release wrote and ran against, never at one in between that no code was
tested on; and a failed upgrade can be retried, or the previous release run, as is.

Append a new (version, function) pair to change the schema; never edit an applied one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Connection, inspect, select

from genmill.store import schema


def _v1_initial(conn: Connection) -> None:
    for table in (schema.tasks, schema.workers):
        table.create(conn)


_GROUP = "owner, kind, model, status"
_BUMP = (
    "INSERT INTO task_counts (owner, kind, model, status, n) "
    "VALUES ({row}.owner, {row}.kind, {row}.model, {row}.status, {delta}) "
    "ON CONFLICT (owner, kind, model, status) DO UPDATE SET n = task_counts.n + ({delta})"
)


def _v2_task_counts(conn: Connection) -> None:
    """Counts per owner/kind/model/status, kept exact by triggers on the task table."""
    schema.task_counts.create(conn)
    conn.exec_driver_sql(
        f"INSERT INTO task_counts ({_GROUP}, n) SELECT {_GROUP}, count(*) FROM tasks "
        f"GROUP BY {_GROUP}"
    )
    add_new, drop_old = _BUMP.format(row="NEW", delta=1), _BUMP.format(row="OLD", delta=-1)
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            f"CREATE TRIGGER tasks_counted_insert AFTER INSERT ON tasks BEGIN {add_new}; END"
        )
        conn.exec_driver_sql(
            f"CREATE TRIGGER tasks_counted_delete AFTER DELETE ON tasks BEGIN {drop_old}; END"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER tasks_counted_update AFTER UPDATE OF status ON tasks "
            f"WHEN OLD.status <> NEW.status BEGIN {drop_old}; {add_new}; END"
        )
    else:
        conn.exec_driver_sql(f"""
            CREATE FUNCTION genmill_count_tasks() RETURNS trigger AS $$
            BEGIN
                IF TG_OP IN ('DELETE', 'UPDATE') THEN {drop_old}; END IF;
                IF TG_OP IN ('INSERT', 'UPDATE') THEN {add_new}; END IF;
                RETURN NULL;
            END $$ LANGUAGE plpgsql""")
        conn.exec_driver_sql(
            "CREATE TRIGGER tasks_counted AFTER INSERT OR DELETE ON tasks "
            "FOR EACH ROW EXECUTE FUNCTION genmill_count_tasks()"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER tasks_counted_status AFTER UPDATE OF status ON tasks FOR EACH ROW "
            "WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION genmill_count_tasks()"
        )


def _v3_task_changes(conn: Connection) -> None:
    """SQLite's change feed for the status memo. PostgreSQL reads are not memoized."""
    if conn.dialect.name != "sqlite":
        return
    schema.task_changes.create(conn)
    for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
        conn.exec_driver_sql(
            f"CREATE TRIGGER tasks_changed_{event.lower()} AFTER {event} ON tasks "
            f"BEGIN INSERT INTO task_changes (task_id) VALUES ({row}.id); END"
        )
    conn.exec_driver_sql(
        "CREATE TRIGGER task_changes_pruned AFTER INSERT ON task_changes BEGIN "
        f"DELETE FROM task_changes WHERE seq <= NEW.seq - {schema.CHANGES_KEPT}; END"
    )


# The columns a poll shows (genmill.domain.TaskStatus), as of version 4. Spelled out
# rather than derived from TaskStatus: an applied migration must not change with the code.
_SHOWN = ("id", "kind", "action", "model", "owner", "status", "progress", "outputs",
          "fail_reason", "submit_time", "start_time", "finish_time")


def _v4_task_changes_shown_only(conn: Connection) -> None:
    """Feed only updates that change what a poll shows (SQLite).

    Version 3 logged every UPDATE: each lease renewal (a running task's heartbeat, every
    few seconds) wrote a change row, pruned one, and dropped the task's remembered
    status although no poll could tell the difference.
    """
    if conn.dialect.name != "sqlite":
        return
    changed = " OR ".join(f"OLD.{name} IS NOT NEW.{name}" for name in _SHOWN)
    conn.exec_driver_sql("DROP TRIGGER tasks_changed_update")
    conn.exec_driver_sql(
        f"CREATE TRIGGER tasks_changed_update AFTER UPDATE OF {', '.join(_SHOWN)} ON tasks "
        f"WHEN {changed} BEGIN INSERT INTO task_changes (task_id) VALUES (NEW.id); END"
    )


# What a task event copies from its task row (task_events, migration 5).
_EVENT_FIELDS = ("owner, kind, action, status, progress, outputs, fail_reason, submit_time, "
                 "start_time, finish_time")
_EVENT_INSERT = (
    f"INSERT INTO task_events (task_id, {_EVENT_FIELDS}) VALUES (NEW.id, "
    + ", ".join(f"NEW.{name.strip()}" for name in _EVENT_FIELDS.split(",")) + ")"
)


def _v5_task_events(conn: Connection) -> None:
    """Task events for server-sent events: a row per visible change, written by triggers
    in the changing transaction (so every process reads one ordered stream), removed with
    their task. Existing tasks get one event holding their current state."""
    schema.task_events.create(conn)
    conn.exec_driver_sql(
        f"INSERT INTO task_events (task_id, {_EVENT_FIELDS}) "
        f"SELECT id, {_EVENT_FIELDS} FROM tasks ORDER BY seq"
    )
    if conn.dialect.name == "sqlite":
        changed = ("OLD.status IS NOT NEW.status OR OLD.progress IS NOT NEW.progress "
                   "OR OLD.outputs IS NOT NEW.outputs")
        conn.exec_driver_sql(
            f"CREATE TRIGGER task_events_insert AFTER INSERT ON tasks BEGIN {_EVENT_INSERT}; END"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER task_events_update AFTER UPDATE OF status, progress, outputs "
            f"ON tasks WHEN {changed} BEGIN {_EVENT_INSERT}; END"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER task_events_delete AFTER DELETE ON tasks "
            "BEGIN DELETE FROM task_events WHERE task_id = OLD.id; END"
        )
        return
    # json has no equality operator: compare the text.
    changed = ("OLD.status IS DISTINCT FROM NEW.status OR OLD.progress IS DISTINCT FROM "
               "NEW.progress OR OLD.outputs::text IS DISTINCT FROM NEW.outputs::text")
    conn.exec_driver_sql(f"""
        CREATE FUNCTION genmill_task_event() RETURNS trigger AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                DELETE FROM task_events WHERE task_id = OLD.id;
            ELSE
                {_EVENT_INSERT};
            END IF;
            RETURN NULL;
        END $$ LANGUAGE plpgsql""")
    conn.exec_driver_sql(
        "CREATE TRIGGER task_events_insert_delete AFTER INSERT OR DELETE ON tasks "
        "FOR EACH ROW EXECUTE FUNCTION genmill_task_event()"
    )
    conn.exec_driver_sql(
        "CREATE TRIGGER task_events_update AFTER UPDATE OF status, progress, outputs ON tasks "
        f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION genmill_task_event()"
    )


def _v6_idempotency_keys(conn: Connection) -> None:
    schema.idempotency_keys.create(conn)


def _v7_task_deadline(conn: Connection) -> None:
    """`tasks.deadline`. A database made at version 1 by this code has it already (the
    first migration creates the table as schema.py now declares it)."""
    if "deadline" in {c["name"] for c in inspect(conn).get_columns("tasks")}:
        return
    conn.exec_driver_sql("ALTER TABLE tasks ADD COLUMN deadline FLOAT")
    conn.exec_driver_sql("CREATE INDEX ix_tasks_deadline ON tasks (deadline)")


def _v8_leases_and_timings(conn: Connection) -> None:
    """Named leases (store/leases.py: one retention sweeper at a time across machines) and
    task timing histograms kept by a trigger (store/stats.py, read by /metrics)."""
    from genmill.store.leases import leases
    from genmill.store.stats import create_timings

    leases.create(conn)
    create_timings(conn)


def _v9_worker_devices(conn: Connection) -> None:
    """What each worker serves on and which models it holds loaded (/readyz shows them).
    A database made at version 1 by this code has the columns already."""
    if "device" in {c["name"] for c in inspect(conn).get_columns("workers")}:
        return
    conn.exec_driver_sql("ALTER TABLE workers ADD COLUMN device VARCHAR(32) NOT NULL "
                         "DEFAULT 'cpu'")
    conn.exec_driver_sql("ALTER TABLE workers ADD COLUMN loaded JSON NOT NULL DEFAULT '[]'")


# Webhook outbox rows (migration 10): copied from the task row and its webhook settings.
# Spelled out here, not derived from the tables: an applied migration must not change.
_OUTBOX_COLUMNS = ("id, task_id, owner, event, url, receiver, base_url, action, status, "
                   "progress, outputs, fail_reason, submit_time, start_time, finish_time, "
                   "created_at, state, attempts, next_try, last_error")
_NOW = {"sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
        "postgresql": "extract(epoch from clock_timestamp())::float8"}
_NEW_ID = {"sqlite": "'msg_' || lower(hex(randomblob(16)))",
           "postgresql": "'msg_' || replace(gen_random_uuid()::text, '-', '')"}
# `events` holds the wanted ones comma-framed (",start,completed,"); no LIKE, whose "%"
# the PostgreSQL driver would read as a placeholder.
_HAS_EVENT = {"sqlite": "instr(w.events, ',{wanted},') > 0",
              "postgresql": "strpos(w.events, ',{wanted},') > 0"}
# Progress events: at most one per task every half second (best effort, never retried).
_PROGRESS_GAP = 0.5


def _outbox_insert(dialect: str, event: str, wanted: str) -> str:
    now = _NOW[dialect]
    sql = (
        f"INSERT INTO webhook_deliveries ({_OUTBOX_COLUMNS}) SELECT {_NEW_ID[dialect]}, "
        f"NEW.id, NEW.owner, '{event}', w.url, w.receiver, w.base_url, NEW.action, "
        "NEW.status, NEW.progress, NEW.outputs, NEW.fail_reason, NEW.submit_time, "
        f"NEW.start_time, NEW.finish_time, {now}, 'pending', 0, {now}, '' "
        "FROM task_webhooks w WHERE w.task_id = NEW.id AND "
        + _HAS_EVENT[dialect].format(wanted=wanted)
    )
    if event == "task.progress":
        sql += (" AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.task_id = NEW.id"
                f" AND d.event = 'task.progress' AND d.created_at > {now} - {_PROGRESS_GAP})")
    return sql


def _v10_webhooks(conn: Connection) -> None:
    """Webhooks: each task's settings and the outbox, filled by triggers in the very
    transaction that changes the task (whichever code path or process makes it), so a
    delivery is never lost between a commit and a crash. Removed with their task."""
    schema.task_webhooks.create(conn)
    schema.webhook_deliveries.create(conn)
    dialect = conn.dialect.name
    started = _outbox_insert(dialect, "task.started", "start")
    completed = _outbox_insert(dialect, "task.completed", "completed")
    progress = _outbox_insert(dialect, "task.progress", "progress")
    forget = ("DELETE FROM task_webhooks WHERE task_id = OLD.id; "
              "DELETE FROM webhook_deliveries WHERE task_id = OLD.id")
    if dialect == "sqlite":
        status_changed = "OLD.status IS NOT NEW.status"
        conn.exec_driver_sql(
            "CREATE TRIGGER webhook_started AFTER UPDATE OF status ON tasks "
            f"WHEN {status_changed} AND NEW.status = 'IN_PROGRESS' BEGIN {started}; END")
        conn.exec_driver_sql(
            "CREATE TRIGGER webhook_completed AFTER UPDATE OF status ON tasks "
            f"WHEN {status_changed} AND NEW.status IN ('SUCCESS', 'FAILURE') "
            f"BEGIN {completed}; END")
        conn.exec_driver_sql(
            "CREATE TRIGGER webhook_progress AFTER UPDATE OF progress ON tasks "
            "WHEN NEW.status = 'IN_PROGRESS' AND OLD.status = 'IN_PROGRESS' "
            f"AND NEW.progress > OLD.progress BEGIN {progress}; END")
        conn.exec_driver_sql(
            f"CREATE TRIGGER webhook_forget AFTER DELETE ON tasks BEGIN {forget}; END")
        return
    conn.exec_driver_sql(f"""
        CREATE FUNCTION genmill_task_webhooks() RETURNS trigger AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                {forget};
            ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
                IF NEW.status = 'IN_PROGRESS' THEN
                    {started};
                ELSIF NEW.status IN ('SUCCESS', 'FAILURE') THEN
                    {completed};
                END IF;
            ELSIF NEW.status = 'IN_PROGRESS' AND NEW.progress > OLD.progress THEN
                {progress};
            END IF;
            RETURN NULL;
        END $$ LANGUAGE plpgsql""")
    conn.exec_driver_sql(
        "CREATE TRIGGER task_webhooks_delete AFTER DELETE ON tasks "
        "FOR EACH ROW EXECUTE FUNCTION genmill_task_webhooks()")
    conn.exec_driver_sql(
        "CREATE TRIGGER task_webhooks_update AFTER UPDATE OF status, progress ON tasks "
        "FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status "
        "OR OLD.progress IS DISTINCT FROM NEW.progress) "
        "EXECUTE FUNCTION genmill_task_webhooks()")


def _v11_relay_jobs(conn: Connection) -> None:
    """Upstream task ids of relay tasks (store/relays.py), kept across restarts."""
    from genmill.store.relays import relay_jobs

    relay_jobs.create(conn)


# The channel on which PostgreSQL names each task whose shown status changed (v12).
STATUS_CHANNEL = "genmill_status"


def _v12_status_notifications(conn: Connection) -> None:
    """PostgreSQL: NOTIFY the id of every task updated in a column a poll shows, or
    deleted, in the changing transaction; each API process's status memo listens
    (api/status_batch.py). SQLite's memo reads task_changes instead (v3, v4)."""
    if conn.dialect.name == "sqlite":
        return
    changed = " OR ".join(
        f"OLD.{name}{'::text' if name == 'outputs' else ''} IS DISTINCT FROM "
        f"NEW.{name}{'::text' if name == 'outputs' else ''}" for name in _SHOWN)
    conn.exec_driver_sql(f"""
        CREATE FUNCTION genmill_status_changed() RETURNS trigger AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                PERFORM pg_notify('{STATUS_CHANNEL}', OLD.id);
            ELSE
                PERFORM pg_notify('{STATUS_CHANNEL}', NEW.id);
            END IF;
            RETURN NULL;
        END $$ LANGUAGE plpgsql""")
    conn.exec_driver_sql(
        f"CREATE TRIGGER tasks_status_changed AFTER UPDATE OF {', '.join(_SHOWN)} ON tasks "
        f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION genmill_status_changed()")
    conn.exec_driver_sql(
        "CREATE TRIGGER tasks_status_deleted AFTER DELETE ON tasks "
        "FOR EACH ROW EXECUTE FUNCTION genmill_status_changed()")


MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [
    (1, _v1_initial),
    (2, _v2_task_counts),
    (3, _v3_task_changes),
    (4, _v4_task_changes_shown_only),
    (5, _v5_task_events),
    (6, _v6_idempotency_keys),
    (7, _v7_task_deadline),
    (8, _v8_leases_and_timings),
    (9, _v9_worker_devices),
    (10, _v10_webhooks),
    (11, _v11_relay_jobs),
    (12, _v12_status_notifications),
]


def applied_version(conn: Connection) -> int:
    versions = conn.execute(select(schema.schema_version.c.version)).scalars().all()
    return max(versions, default=0)


def is_current(conn: Connection) -> bool:
    """Whether every migration is applied: a read, so checking takes no write lock."""
    if not inspect(conn).has_table(schema.schema_version.name):
        return False
    return applied_version(conn) >= MIGRATIONS[-1][0]


def migrate(conn: Connection) -> list[int]:
    """Apply pending migrations inside the caller's transaction, which holds the
    migration lock (one transaction for all of them: see the module docstring)."""
    schema.schema_version.create(conn, checkfirst=True)
    current = applied_version(conn)
    done = []
    for version, step in MIGRATIONS:
        if version > current:
            step(conn)
            conn.execute(
                schema.schema_version.insert().values(version=version, applied_at=time.time())
            )
            done.append(version)
    return done
