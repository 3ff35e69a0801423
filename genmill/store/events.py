"""Reading task events (the rows migration 5's triggers append on every visible change).

Events are written by the database itself, in the transaction that changes the task, so
every server process on one database reads the same stream in the same order.

On PostgreSQL a sequence number is taken before its transaction commits, so a reader can
see event n+1 before event n (a gap). `EventReader` holds delivery at a gap until every
transaction that was running when the gap was seen has ended (`gap_settled`); a gap still
there then is permanent (a rolled-back transaction, a deleted task). SQLite serialises
writers, so its events commit in number order and a gap is always permanent.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, literal_column, select, text

from genmill.domain import Kind, Status, TaskEvent
from genmill.store.connector import CommitWatch, Database
from genmill.store.schema import task_events, tasks

_FIELDS = [task_events.c[name] for name in (
    "seq", "task_id", "kind", "action", "owner", "status", "progress", "outputs",
    "fail_reason", "submit_time", "start_time", "finish_time",
)]
BATCH = 1000  # events per read (a literal: the SQLite fast path binds only named params)
_KINDS = {kind.value: kind for kind in Kind}
_STATUSES = {status.value: status for status in Status}
_SINCE = (
    select(*_FIELDS).where(task_events.c.seq > bindparam("after"))
    .order_by(task_events.c.seq).limit(literal_column(str(BATCH))).offset(literal_column("0"))
)
_OF_TASK = (
    select(*_FIELDS)
    .where(task_events.c.task_id == bindparam("task_id"),
           task_events.c.seq > bindparam("after"), task_events.c.seq <= bindparam("upto"))
    .order_by(task_events.c.seq)
)
_LATEST_OF_TASK = (
    select(*_FIELDS)
    .where(task_events.c.task_id == bindparam("task_id"),
           task_events.c.seq <= bindparam("upto"))
    .order_by(task_events.c.seq.desc()).limit(literal_column("1")).offset(literal_column("0"))
)
_OF_OWNER = (
    select(*_FIELDS)
    .where(task_events.c.owner == bindparam("owner"),
           task_events.c.seq > bindparam("after"), task_events.c.seq <= bindparam("upto"))
    .order_by(task_events.c.seq).limit(literal_column(str(BATCH))).offset(literal_column("0"))
)
_LAST = select(func.coalesce(func.max(task_events.c.seq), literal_column("0")))


def _event(row: tuple[Any, ...]) -> TaskEvent:
    values = list(row)
    values[2] = _KINDS[values[2]]
    values[5] = _STATUSES[values[5]]
    values[7] = tuple(values[7])
    return TaskEvent._make(values)


class EventStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def commits_in_order(self) -> bool:
        """True when events become visible in number order (SQLite's single writer)."""
        return self.db.is_sqlite

    def commit_watch(self) -> CommitWatch | None:
        """A check of whether new events may have been written (SQLite), else None."""
        return self.db.commit_watch()

    def last_seq(self) -> int:
        (seq,) = self.db.fetch_one(_LAST, {})
        return int(seq)

    def since(self, after: int) -> list[TaskEvent]:
        """Up to BATCH events numbered above `after`, in order (all tasks: a process's
        live feed)."""
        return [_event(r) for r in self.db.fetch_all(_SINCE, {"after": after})]

    def of_task(self, task_id: str, after: int, upto: int) -> list[TaskEvent]:
        rows = self.db.fetch_all(_OF_TASK, {"task_id": task_id, "after": after, "upto": upto})
        return [_event(r) for r in rows]

    def latest_of_task(self, task_id: str, upto: int) -> TaskEvent | None:
        row = self.db.fetch_one(_LATEST_OF_TASK, {"task_id": task_id, "upto": upto})
        return _event(row) if row else None

    def of_owner(self, owner: str, after: int, upto: int) -> list[TaskEvent]:
        """Up to BATCH of the owner's events in (after, upto], in order."""
        rows = self.db.fetch_all(_OF_OWNER, {"owner": owner, "after": after, "upto": upto})
        return [_event(r) for r in rows]

    def missing_tasks(self, task_ids: list[str]) -> set[str]:
        """Those of `task_ids` that no longer exist (deleted: their streams end)."""
        present: set[str] = set()
        with self.db.read() as conn:
            for start in range(0, len(task_ids), 500):
                chunk = task_ids[start:start + 500]
                present.update(conn.execute(select(tasks.c.id).where(tasks.c.id.in_(chunk)))
                               .scalars())
        return set(task_ids) - present

    # -- gaps (PostgreSQL) -----------------------------------------------------------

    def gap_mark(self) -> int:
        """A mark taken after a read that saw a gap: the first transaction id not yet
        started. Transactions that could still fill the gap are all below it."""
        with self.db.read() as conn:
            return int(conn.execute(
                text("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
            ).scalar_one())

    def gap_settled(self, mark: int) -> bool:
        """Whether every transaction below `mark` has ended (committed or rolled back)."""
        with self.db.read() as conn:
            oldest_running = int(conn.execute(
                text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            ).scalar_one())
        return oldest_running >= mark


class EventReader:
    """A process's cursor over the event stream: `poll()` returns the next events in
    order, never one past a gap that may still fill (see the module docstring)."""

    def __init__(self, events: EventStore, start: int, gap_timeout: float = 5.0) -> None:
        self.events = events
        self.cursor = start
        self.gap_timeout = gap_timeout  # a transaction held open longer loses its place
        self._mark: int | None = None  # gap_mark() taken when a gap was seen
        self._mark_covers = 0  # events up to this number were read before the mark
        self._gap_seen_at = 0.0
        self._settled_upto = 0  # gaps at or below this number are permanent

    @property
    def holding_at_gap(self) -> bool:
        """A gap is being waited out: the next poll may deliver with no new commit."""
        return self._mark is not None

    def poll(self, now: float) -> list[TaskEvent]:
        if self._mark is not None and (
            self.events.gap_settled(self._mark) or now - self._gap_seen_at > self.gap_timeout
        ):
            self._settled_upto, self._mark = self._mark_covers, None
        rows = self.events.since(self.cursor)
        ready: list[TaskEvent] = []
        for event in rows:
            if (event.seq != self.cursor + 1 and not self.events.commits_in_order
                    and event.seq > self._settled_upto):
                if self._mark is None:
                    self._mark, self._mark_covers = self.events.gap_mark(), rows[-1].seq
                    self._gap_seen_at = now
                break
            ready.append(event)
            self.cursor = event.seq
        return ready
