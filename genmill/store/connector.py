"""The database connection: the one place where SQLite and PostgreSQL differ.

SQLite (the embedded default) runs in WAL mode, takes write locks up front (BEGIN
IMMEDIATE, so two writers never deadlock on a lock upgrade) and wakes idle workers by a
short poll. PostgreSQL claims with FOR UPDATE SKIP LOCKED (rendered by the same query) and
wakes workers with LISTEN/NOTIFY.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import select as select_module
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Select, create_engine, event, text
from sqlalchemy.engine import make_url

from genmill.store.migrations import is_current, migrate

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

    @property
    def reads_are_local(self) -> bool:
        """A hot read is a lookup in a local file (microseconds), not a network round trip,
        so it may run on an event loop's own thread."""
        return self.is_sqlite

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
        reader = getattr(self._local, "reader", None)
        if reader is not None:
            reader.end_turn()  # this thread's next read sees what it just wrote

    def fetch_one(self, statement: Select, params: dict[str, Any]) -> tuple | None:
        """One row of a hot, simple SELECT (values in column order), or None."""
        rows = self.fetch_all(statement, params)
        return rows[0] if rows else None

    def fetch_all(self, statement: Select, params: dict[str, Any]) -> list[tuple]:
        """The rows of a hot, simple SELECT, values in column order.

        On SQLite this skips SQLAlchemy's per-call machinery (pool checkout, result
        objects): the statement is compiled once and run on a connection kept per
        thread, with the same type conversions SQLAlchemy would apply. It makes a status
        poll several times cheaper. On an event loop's thread the read joins the loop
        turn's transaction (see `_SqliteReader`).
        """
        if not self.is_sqlite:
            with self.read() as conn:
                return [tuple(row) for row in conn.execute(statement, params)]
        plan = self._plans.get(statement)
        if plan is None:
            plan = self._plans[statement] = _SqlitePlan(statement, self.engine.dialect)
        rows = self._reader().fetch_all(plan.sql, [params[name] for name in plan.param_names])
        return [plan.convert(row) for row in rows]

    def loop_turn(self) -> int | None:
        """On SQLite, on a thread running an event loop: the number of the current loop
        turn, whose reads all see one snapshot (unique in this process). Else None."""
        if not self.is_sqlite:
            return None
        return self._reader().turn()

    def _reader(self) -> _SqliteReader:
        reader = getattr(self._local, "reader", None)
        if reader is None:
            reader = self._local.reader = _SqliteReader(make_url(self.url).database)
        return reader

    def notify_new_work(self, conn: Connection) -> None:
        """Inside a write transaction: wake idle workers once it commits."""
        if self.dialect == "postgresql":
            conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL})

    def migrate(self) -> list[int]:
        with self.read() as conn:
            if is_current(conn):
                return []
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


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # a thread with no event loop
        return None


class _SqliteReader:
    """A thread's own sqlite3 connection for hot reads (the status poll).

    On a thread that runs an event loop, the reads of one loop turn share one read
    transaction: starting a WAL read transaction takes and drops a file lock (three
    system calls), which costs more than a primary-key lookup, and under load one turn
    serves dozens of polls. The turn's end is scheduled (call_soon) before its
    transaction begins, so a request that arrives after the snapshot was taken is
    handled after the turn ends: no read is answered from a snapshot older than the
    request that asked for it. On other threads each read is its own transaction.
    """

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                     timeout=30)
        self._conn.execute("PRAGMA busy_timeout=30000")
        if _running_loop() is None:
            _tune_reads(self._conn)
        else:
            # Inside a turn's transaction a private page cache (kept between transactions
            # while nothing is written) reads twice as fast as the memory map. One such
            # connection per event loop thread; 64 MB is an upper bound.
            self._conn.execute("PRAGMA cache_size=-65536")
        self._cursor = self._conn.cursor()
        self._turn_loop: asyncio.AbstractEventLoop | None = None
        self._turn = 0

    def fetch_all(self, sql: str, args: list[Any]) -> list[tuple]:
        self.turn()
        return self._cursor.execute(sql, args).fetchall()

    def turn(self) -> int | None:
        """The current loop turn's number (beginning a turn if needed), None off a loop."""
        loop = _running_loop()
        if loop is None:
            self.end_turn()
            return None
        if loop is not self._turn_loop:
            self.end_turn()
            loop.call_soon(self.end_turn)
            self._turn_loop = loop
            self._turn = next(_turn_numbers)
            self._cursor.execute("BEGIN")
        return self._turn

    def end_turn(self) -> None:
        if self._turn_loop is not None:
            self._turn_loop = None
            self._conn.commit()


_turn_numbers = itertools.count(1)


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
