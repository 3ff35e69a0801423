"""Versioned schema migrations, applied in order at start, each in its own transaction.

Append a new (version, function) pair to change the schema; never edit an applied one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Connection, select

from genmill.store import schema


def _v1_initial(conn: Connection) -> None:
    for table in (schema.tasks, schema.workers):
        table.create(conn)


MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [
    (1, _v1_initial),
]


def applied_version(conn: Connection) -> int:
    versions = conn.execute(select(schema.schema_version.c.version)).scalars().all()
    return max(versions, default=0)


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
