"""The database connection: the one place where SQLite and PostgreSQL differ.

SQLite (the embedded default) runs in WAL mode, takes write locks up front (BEGIN
IMMEDIATE, so two writers never deadlock on a lock upgrade) and wakes idle workers by a
short poll. PostgreSQL claims with FOR UPDATE SKIP LOCKED (rendered by the same query) and
wakes workers with LISTEN/NOTIFY.
"""

from __future__ import annotations

import contextlib
import select as select_module
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Select, create_engine, event, text
from sqlalchemy.engine import make_url

from genmill.store.migrations import migrate

NOTIFY_CHANNEL = "genmill_tasks"
_PG_MIGRATION_LOCK = 0x67656E6D  # "genm": any fixed key shared by all genmill processes


def normalize_url(url: str) -> str:
    """`postgresql://` and `postgres://` mean psycopg 3, the driver genmill ships with."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Database:
    def __init__(self, url: str, pool_size: int = 5) -> None:
        self.url = normalize_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        self._plans: dict[Select, _SqlitePlan] = {}
        self._local = threading.local()
        if self.dialect == "sqlite":
            self.engine = self._sqlite_engine(parsed)
        elif self.dialect == "postgresql":
            self.engine = create_engine(
                self.url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True
            )
        else:
            raise ValueError(f"unsupported database {self.dialect!r}: use sqlite or postgresql")

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def _sqlite_engine(self, parsed) -> Engine:
        if parsed.database:
            from pathlib import Path

            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            self.url, connect_args={"check_same_thread": False, "timeout": 30}
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record) -> None:
            # Let SQLAlchemy's begin event emit BEGIN itself (pysqlite's own is deferred-only).
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
            _tune_reads(dbapi_conn)

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # Writes take the lock up front; reads stay in autocommit, where each SELECT
            # is its own consistent snapshot and costs no BEGIN/ROLLBACK round.
            if conn.get_execution_options().get("immediate", False):
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, committed on success, rolled back on error."""
        with self.engine.connect() as conn:
            conn.execution_options(immediate=True)
            with conn.begin():
                yield conn

    def fetch_one(self, statement: Select, params: dict[str, Any]) -> tuple | None:
        """One row of a hot, simple SELECT (values in column order), or None.

        On SQLite this skips SQLAlchemy's per-call machinery (pool checkout, result
        objects): the statement is compiled once and run on a connection kept per
        thread, with the same type conversions SQLAlchemy would apply. It makes a status
        poll several times cheaper.
        """
        if not self.is_sqlite:
            with self.read() as conn:
                row = conn.execute(statement, params).first()
            return tuple(row) if row else None
        plan = self._plans.get(statement)
        if plan is None:
            plan = self._plans[statement] = _SqlitePlan(statement, self.engine.dialect)
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._local.cursor = self._raw_sqlite_connection().cursor()
        row = cursor.execute(plan.sql, [params[name] for name in plan.param_names]).fetchone()
        return plan.convert(row) if row else None

    def _raw_sqlite_connection(self) -> sqlite3.Connection:
        conn = sqlite3.connect(make_url(self.url).database, check_same_thread=False,
                               isolation_level=None, timeout=30)
        conn.execute("PRAGMA busy_timeout=30000")
        _tune_reads(conn)
        return conn

    def notify_new_work(self, conn: Connection) -> None:
        """Inside a write transaction: wake idle workers once it commits."""
        if self.dialect == "postgresql":
            conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL})

    def migrate(self) -> list[int]:
        with self.write() as conn:
            if self.dialect == "postgresql":
                lock = text("SELECT pg_advisory_xact_lock(:key)")
                conn.execute(lock, {"key": _PG_MIGRATION_LOCK})
            return migrate(conn)

    def ping(self) -> None:
        with self.read() as conn:
            conn.execute(text("SELECT 1"))

    def work_waiter(self, poll_interval: float) -> WorkWaiter:
        if self.dialect == "postgresql":
            return PostgresWaiter(self)
        return PollWaiter(poll_interval)

    def dispose(self) -> None:
        self.engine.dispose()


def _tune_reads(conn: sqlite3.Connection) -> None:
    # Read pages straight from a memory map instead of a read() call per page: a status
    # lookup on 100k tasks goes from about 10 to 8 us. An upper bound, not an allocation.
    conn.execute("PRAGMA mmap_size=1073741824")


class _SqlitePlan:
    """A SELECT compiled once for sqlite3, with its columns' result conversions."""

    def __init__(self, statement: Select, dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.param_names = list(compiled.positiontup or [])
        processors = [column.type._cached_result_processor(dialect, None)
                      for column in statement.selected_columns]
        self.conversions = [(i, p) for i, p in enumerate(processors) if p is not None]

    def convert(self, row: tuple) -> tuple:
        if not self.conversions:
            return row
        values = list(row)
        for index, process in self.conversions:
            values[index] = process(values[index])
        return tuple(values)


class WorkWaiter(Protocol):
    def wait(self, timeout: float) -> None:
        """Return when new work may be there, or after `timeout` seconds."""

    def close(self) -> None: ...


class PollWaiter:
    """SQLite has no notifications; an indexed claim query every few ms is cheap."""

    def __init__(self, interval: float) -> None:
        self.interval = interval

    def wait(self, timeout: float) -> None:
        time.sleep(min(self.interval, timeout))

    def close(self) -> None:
        pass


class PostgresWaiter:
    """LISTEN on a connection of its own; a NOTIFY from a submit wakes the worker at once."""

    def __init__(self, db: Database) -> None:
        import psycopg

        url = make_url(db.url).set(drivername="postgresql")
        self._conn = psycopg.connect(
            url.render_as_string(hide_password=False), autocommit=True
        )
        self._conn.execute(f"LISTEN {NOTIFY_CHANNEL}")

    def wait(self, timeout: float) -> None:
        ready, _, _ = select_module.select([self._conn.fileno()], [], [], timeout)
        if ready:
            for _ in self._conn.notifies(timeout=0, stop_after=100):
                pass

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.close()
