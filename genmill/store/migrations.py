"""Versioned schema migrations, applied in order at start, each in its own transaction.

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


MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [
    (1, _v1_initial),
    (2, _v2_task_counts),
    (3, _v3_task_changes),
]


def applied_version(conn: Connection) -> int:
    versions = conn.execute(select(schema.schema_version.c.version)).scalars().all()
    return max(versions, default=0)


def is_current(conn: Connection) -> bool:
    """Whether every migration is applied: a read, so that a process starting beside busy
    ones (workers claiming every 20 ms on SQLite) need not queue for the write lock."""
    if not inspect(conn).has_table(schema.schema_version.name):
        return False
    return applied_version(conn) >= MIGRATIONS[-1][0]


def migrate(conn: Connection) -> list[int]:
    """Apply pending migrations on a connection that holds the migration lock."""
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
