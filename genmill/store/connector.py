"""The database connection: the one place where SQLite and PostgreSQL differ.

SQLite (the embedded default) runs in WAL mode, takes write locks up front (BEGIN
IMMEDIATE, so two writers never deadlock on a lock upgrade) and wakes idle workers through
a wake file beside the database (see `SqliteWaiter`). PostgreSQL claims with FOR UPDATE
SKIP LOCKED (rendered by the same query) and wakes workers with LISTEN/NOTIFY.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import select as select_module
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Select, create_engine, event, text
from sqlalchemy.engine import make_url

from genmill.store.errors import StoreUnavailable, as_store_error
from genmill.store.migrations import STATUS_CHANNEL, is_current, migrate

NOTIFY_CHANNEL = "genmill_tasks"
_WAKE_AFTER_COMMIT = "genmill_wake_workers"  # a flag in a connection's info dict
_PG_MIGRATION_LOCK = 0x67656E6D  # "genm": any fixed key shared by all genmill processes
_PG_OWNER_LOCKS = 0x67656E6F  # "geno": the first key of per-owner locks (serialize_owner)


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
        # SQLite: the file whose mtime says "new work committed" (None: in memory).
        self.wake_file = (parsed.database + "-wake" if self.dialect == "sqlite"
                          and parsed.database and parsed.database != ":memory:" else None)
        self._plans: dict[Select, _SqlitePlan] = {}
        self._pg_sql: dict[Select, str] = {}  # statements compiled for fetch_all_direct
        self._local = threading.local()
        self._pool_size = pool_size
        self._single_engine: Engine | None = None  # PostgreSQL's autocommit pool (`single`)
        self._single_lock = threading.Lock()
        if self.dialect == "sqlite":
            self.engine = self._sqlite_engine(parsed)
        elif self.dialect == "postgresql":
            # READ COMMITTED whatever the server's default: each statement sees what was
            # committed before it began, which the claim (SKIP LOCKED) and the count after
            # a per-owner lock (serialize_owner) rely on.
            self.engine = create_engine(
                self.url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True,
                isolation_level="READ COMMITTED",
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
        with _passing_faults(), self.engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, committed on success, rolled back on error."""
        with _passing_faults(), self.engine.connect() as conn:
            conn.execution_options(immediate=True)
            try:
                with conn.begin():
                    yield conn
                wake = conn.info.get(_WAKE_AFTER_COMMIT, False)
            finally:
                conn.info.pop(_WAKE_AFTER_COMMIT, None)
        if wake:
            self._touch_wake_file()
        reader = getattr(self._local, "reader", None)
        if reader is not None:
            reader.end_turn()  # this thread's next read sees what it just wrote

    @contextlib.contextmanager
    def single(self, writes: bool = True) -> Iterator[Connection]:
        """A connection for ONE statement that is a transaction by itself (an UPDATE ...
        RETURNING, with whatever its triggers do, is atomic alone): a worker's claim,
        progress, lease renewal, finish and cancel check.

        On PostgreSQL it runs in autocommit on a pool without pre-ping: one round trip
        where `write` took four (the pool's ping, BEGIN, the statement, COMMIT), and the
        row locks the statement takes (the task's, and its triggers' on the shared
        task_counts rows that every submit also updates) are released by the server as
        the statement ends, not a round trip later when this process is next scheduled
        to send COMMIT. Under bench/load.py on a loaded 2-core machine those waits were
        most of a worker's time per task (issue 18). With no ping, the first statement
        on a connection the server dropped (a restart) fails as StoreUnavailable, which
        every caller already retries; SQLAlchemy then drops the pool's other stale
        connections too. On SQLite: `write` (its BEGIN IMMEDIATE is what orders writers),
        or `read` for a statement that only reads (`writes=False`)."""
        if self.is_sqlite:
            with (self.write() if writes else self.read()) as conn:
                yield conn
            return
        engine = self._single_engine
        if engine is None:
            with self._single_lock:
                if self._single_engine is None:
                    self._single_engine = create_engine(
                        self.url, pool_size=self._pool_size, max_overflow=10,
                        pool_pre_ping=False, isolation_level="AUTOCOMMIT")
                engine = self._single_engine
        with _passing_faults(), engine.connect() as conn:
            yield conn

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
            # One round trip in autocommit (see `single`), not ping, BEGIN, SELECT and
            # ROLLBACK: the event streams' poll runs this 20 times a second per server.
            with self.single(writes=False) as conn:
                return [tuple(row) for row in conn.execute(statement, params)]
        plan = self._plans.get(statement)
        if plan is None:
            plan = self._plans[statement] = _SqlitePlan(statement, self.engine.dialect)
        with _passing_faults():
            rows = self._reader().fetch_all(plan.sql,
                                            [params[name] for name in plan.param_names])
        return [plan.convert(row) for row in rows]

    def fetch_all_direct(self, statement: Select, params: dict[str, Any]) -> list[tuple]:
        """Like `fetch_all`; on PostgreSQL on a connection of this thread's own, outside
        the pool, with no ping before each use (the pool's pre-ping doubles the round
        trips of a status batch). A broken connection raises StoreUnavailable and is
        dropped; the next call opens a new one."""
        if self.is_sqlite:
            return self.fetch_all(statement, params)
        sql = self._pg_sql.get(statement)
        if sql is None:
            sql = self._pg_sql[statement] = str(statement.compile(dialect=self.engine.dialect))
        conn = getattr(self._local, "direct", None)
        with _passing_faults():
            try:
                if conn is None or conn.closed:
                    import psycopg

                    # autocommit: each read is its own READ COMMITTED snapshot
                    conn = self._local.direct = psycopg.connect(
                        self.libpq_dsn(), autocommit=True, connect_timeout=5)
                return conn.execute(sql, params, prepare=True).fetchall()
            except Exception:
                if conn is not None and conn.broken:
                    conn.close()
                    self._local.direct = None
                raise

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
        else:
            conn.info[_WAKE_AFTER_COMMIT] = True  # `write` touches the wake file on commit

    def _touch_wake_file(self) -> None:
        path = self.wake_file
        if path is None:
            return
        now = time.time_ns()  # an explicit time: the kernel's own mtime ticks are coarse
        try:
            os.utime(path, ns=(now, now))
        except FileNotFoundError:
            with contextlib.suppress(OSError):
                with open(path, "a"):
                    pass
        except OSError:
            pass  # workers still find the work at their next regular poll

    def serialize_owner(self, conn: Connection, owner: str) -> None:
        """Inside a write transaction: wait until no other transaction that called this
        for `owner` is open, so a count of the owner's rows stays true until commit.

        SQLite needs nothing: BEGIN IMMEDIATE already serializes all writers. PostgreSQL
        takes a transaction-scoped advisory lock on a hash of the owner (two 32-bit keys:
        a key space of their own, apart from the migration lock's single 64-bit key); a
        hash collision only makes two owners take turns.
        """
        if self.dialect == "postgresql":
            conn.execute(text(f"SELECT pg_advisory_xact_lock({_PG_OWNER_LOCKS}, hashtext(:owner))"),
                         {"owner": owner})

    def migrate(self) -> list[int]:
        # Every process that opens the database calls this; once the schema is current
        # a read says so, without queueing for SQLite's write lock behind busy workers.
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

    def commit_watch(self) -> CommitWatch | None:
        """SQLite: a cheap check of whether any other connection committed since the last
        check (a reader can poll only when something changed). PostgreSQL: None."""
        if not self.is_sqlite:
            return None
        return CommitWatch(make_url(self.url).database)

    def status_feed(self) -> StatusFeed | None:
        """PostgreSQL: a new listener for the ids of tasks whose shown status changed
        (one per event loop that memoizes statuses). SQLite: None (see task_changes)."""
        if self.is_sqlite:
            return None
        return StatusFeed(self.libpq_dsn())

    def libpq_dsn(self) -> str:
        """PostgreSQL: the URL as libpq takes it, for connections outside SQLAlchemy's
        pools (the status reads, LISTEN)."""
        return make_url(self.url).set(drivername="postgresql").render_as_string(
            hide_password=False)

    def work_waiter(self, poll_interval: float, wake_check: float = 0.002) -> WorkWaiter:
        if self.dialect == "postgresql":
            return PostgresWaiter(self)
        if self.wake_file is not None:
            return SqliteWaiter(self.wake_file, poll_interval, wake_check)
        return PollWaiter(poll_interval)

    def dispose(self) -> None:
        self.engine.dispose()
        if self._single_engine is not None:
            self._single_engine.dispose()


@contextlib.contextmanager
def _passing_faults() -> Iterator[None]:
    """Raise an outage, a lost connection or a full disk as StoreUnavailable, which
    callers retry or answer with 503; other database errors stay what they are."""
    try:
        yield
    except StoreUnavailable:
        raise
    except Exception as exc:
        translated = as_store_error(exc)
        if translated is None:
            raise
        raise translated from exc


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


class CommitWatch:
    """`PRAGMA data_version` on a connection of its own, which never writes: the number
    changes exactly when another connection (any process) commits to the file. One check
    costs a few microseconds (a WAL read lock taken and dropped, no page read), about the
    price of an indexed read but with nothing to decode, so it can run every few ms."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                     timeout=30)
        self._cursor = self._conn.cursor()
        self._version = self._read()

    def _read(self) -> int:
        with _passing_faults():
            return self._cursor.execute("PRAGMA data_version").fetchone()[0]

    def changed(self) -> bool:
        version = self._read()
        if version == self._version:
            return False
        self._version = version
        return True

    def close(self) -> None:
        self._conn.close()


class WorkWaiter(Protocol):
    def wait(self, timeout: float) -> None:
        """Return when new work may be there, or after `timeout` seconds."""

    def close(self) -> None: ...


class PollWaiter:
    """An in-memory SQLite database: nothing to watch, a plain poll."""

    def __init__(self, interval: float) -> None:
        self.interval = interval

    def wait(self, timeout: float) -> None:
        time.sleep(min(self.interval, timeout))

    def close(self) -> None:
        pass


class SqliteWaiter:
    """SQLite has no notifications, so a commit that adds claimable work (a submit, a
    re-queue) sets the mtime of a wake file beside the database, and idle workers look at
    it every `check` seconds (2 ms): a stat is about a microsecond, where a claim query costs
    a millisecond, so a submit is claimed within a few ms while an idle worker stays near
    zero CPU. The claim still runs every `interval` without a wake: work also becomes
    claimable by the clock alone (a retry's backoff, an expired lease)."""

    def __init__(self, path: str, interval: float, check: float = 0.002) -> None:
        self.path, self.interval, self.check = path, interval, check
        self._seen = self._mtime()

    def _mtime(self) -> int:
        try:
            return os.stat(self.path).st_mtime_ns
        except OSError:
            return 0

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + min(self.interval, timeout)
        while True:
            mtime = self._mtime()
            if mtime != self._seen:  # also a touch since the last wait: the claim raced it
                self._seen = mtime
                return
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(self.check, left))

    def close(self) -> None:
        pass


class PostgresWaiter:
    """LISTEN on a connection of its own; a NOTIFY from a submit wakes the worker at once.

    A lost connection (a database restart) is opened again on the next wait; until then
    the wait is a plain sleep, so the worker's claim loop goes on polling."""

    def __init__(self, db: Database) -> None:
        self._dsn = db.libpq_dsn()
        self._conn = None
        self._connect()

    def _connect(self) -> bool:
        import psycopg

        try:
            self._conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=5)
            self._conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
            return True
        except psycopg.Error:
            self.close()
            return False

    def wait(self, timeout: float) -> None:
        if self._conn is None and not self._connect():
            time.sleep(timeout)
            return
        try:
            ready, _, _ = select_module.select([self._conn.fileno()], [], [], timeout)
            if ready:
                for _ in self._conn.notifies(timeout=0, stop_after=100):
                    pass
        except Exception:  # the connection broke: open a new one on the next wait
            self.close()

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None


FEED_NAME = "genmill-status-feed"  # its connections' application_name (pg_stat_activity)


class StatusFeed:
    """LISTEN for the ids of tasks whose shown status changed or that were deleted
    (migration 12 NOTIFYs them in the changing transaction), on a connection of its own,
    read without ever blocking from one event loop's thread.

    `changes()` returns the ids notified since its last call, or None while the feed
    cannot be trusted: not connected yet, lost, or silent too long. Every PING_EVERY s
    while it is read, the feed sends a NOTIFY with no payload on its own connection and
    waits for it to come back: that proves notifications reach it, not only that the
    connection answers (a pooler in transaction mode answers but passes none on). With
    none back for TRUSTED_FOR s (after a lull in reads, say) the feed is distrusted until
    the next one, and with none for LOST_AFTER s it is dropped and opened again, off the
    loop. `epoch` goes up each time a new connection starts listening: a memo keeps
    nothing across epochs, since notifications sent while no one listened are lost.
    """

    PING_EVERY = 1.0
    TRUSTED_FOR = 2.0
    LOST_AFTER = 3.0
    RETRY_AFTER = 1.0

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._pgconn = None  # psycopg.pq.PGconn, listening; used by the loop thread only
        self._opened = None  # a PGconn handed over by the connecting thread
        self._connecting = False
        self._closed = False
        self._poller = select_module.poll()  # the connection's socket, once adopted
        self._pid = 0  # its backend's pid: the sender of our own pings
        self._ping_sent: float | None = None  # when the ping not back yet was sent
        self._ping_running = False  # its NOTIFY command's result not read yet
        self._answered = 0.0  # when our last ping came back (or the connection was new)
        self.epoch = 0
        self._open_soon(0.0)

    def changes(self) -> list[str] | None:
        if self._opened is not None:
            self._adopt()
        pgconn = self._pgconn
        if pgconn is None:
            if self._opened is None:
                self._open_soon(self.RETRY_AFTER)  # no-op while a thread is opening one
            return None
        now = time.monotonic()
        try:
            # What has arrived: never blocks (libpq's socket is non-blocking). Until the
            # socket is drained: a server that ends the connection sends an error, then
            # closes, and only reading the close raises.
            pgconn.consume_input()
            for _ in range(8):  # bounded: a flood of notifications waits for a next turn
                if not self._poller.poll(0):
                    break
                pgconn.consume_input()
            ids = []
            while (notice := pgconn.notifies()) is not None:
                if notice.extra:
                    ids.append(notice.extra.decode())
                elif notice.be_pid == self._pid and self._ping_sent is not None:
                    self._ping_sent, self._answered = None, now  # our own ping came back
            if self._ping_running and not pgconn.is_busy():
                while (result := pgconn.get_result()) is not None:
                    if result.status != _COMMAND_OK:
                        raise OSError(result.error_message.decode(errors="replace"))
                self._ping_running = False
            if self._ping_sent is None:
                if now - self._answered >= self.PING_EVERY and not self._ping_running:
                    pgconn.send_query(f"NOTIFY {STATUS_CHANNEL}".encode())
                    pgconn.flush()
                    self._ping_sent, self._ping_running = now, True
            elif now - self._ping_sent >= self.LOST_AFTER:
                raise OSError("no notification came back from the database")
        except Exception:
            self._drop()
            return None
        if now - self._answered > self.TRUSTED_FOR:
            return None
        return ids

    def close(self) -> None:
        self._closed = True
        self._drop(reopen=False)
        opened, self._opened = self._opened, None
        if opened is not None:
            opened.finish()

    def _adopt(self) -> None:
        self._pgconn, self._opened = self._opened, None
        self._pid = self._pgconn.backend_pid
        self._ping_running = False
        self._poller = select_module.poll()
        self._poller.register(self._pgconn.socket, select_module.POLLIN)
        self._ping_sent, self._answered = None, time.monotonic()
        self.epoch += 1

    def _drop(self, reopen: bool = True) -> None:
        if self._pgconn is not None:
            with contextlib.suppress(Exception):
                self._pgconn.finish()
            self._pgconn = None
        if reopen and not self._closed:
            self._open_soon(self.RETRY_AFTER)

    def _open_soon(self, delay: float) -> None:
        if self._connecting:
            return
        self._connecting = True
        threading.Thread(target=self._open, args=(delay,), daemon=True,
                         name="genmill-status-feed").start()

    def _open(self, delay: float) -> None:
        """On its own thread: a connect may wait seconds for an unreachable server."""
        from psycopg import pq
        from psycopg.conninfo import make_conninfo

        time.sleep(delay)
        while not self._closed:
            pgconn = pq.PGconn.connect(make_conninfo(self._dsn, connect_timeout=5,
                                                  application_name=FEED_NAME).encode())
            if pgconn.status == pq.ConnStatus.OK:
                result = pgconn.exec_(f"LISTEN {STATUS_CHANNEL}".encode())
                if result.status == pq.ExecStatus.COMMAND_OK and not self._closed:
                    pgconn.nonblocking = 1
                    self._opened = pgconn  # adopted by the loop thread's next read
                    break
            pgconn.finish()  # failed, or closed meanwhile: not left open behind close()
            time.sleep(self.RETRY_AFTER)
        self._connecting = False


_COMMAND_OK = 1  # psycopg.pq.ExecStatus.COMMAND_OK, without importing psycopg on SQLite
