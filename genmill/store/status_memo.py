"""Statuses remembered on a server's event loop until their task changes (SQLite).

A task is polled far more often than it changes: a finished one never changes again, a
running one at most twice a second. The memo keeps the statuses it read, and at the
start of each loop turn, inside the turn's read transaction, drops those of the tasks
that `task_changes` says were inserted, changed or deleted since the last turn (all of
them if it fell more than `CHANGES_KEPT` changes behind). A remembered status is thus
served only while its task is unchanged in the snapshot the poll reads.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import bindparam, func, literal_column, select

from genmill.domain import TaskStatus
from genmill.store.connector import Database
from genmill.store.schema import task_changes

_CHANGES_SINCE = (
    select(task_changes.c.seq, task_changes.c.task_id)
    .where(task_changes.c.seq > bindparam("seq"))
    .order_by(task_changes.c.seq)
)
_LAST_CHANGE = select(func.coalesce(func.max(task_changes.c.seq), literal_column("0")))


class StatusMemo:
    """One per event-loop thread: turns of one loop never interleave."""

    MAX_STATUSES = 8192

    def __init__(self, db: Database, read: Callable[[str], TaskStatus | None]) -> None:
        self._db = db
        self._read = read
        self._statuses: dict[str, TaskStatus | None] = {}
        self._turn: int | None = None
        self._seen: int | None = None  # the last task_changes row applied

    def get(self, task_id: str, turn: int) -> TaskStatus | None:
        if turn != self._turn:
            self._catch_up()
            self._turn = turn
        try:
            return self._statuses[task_id]
        except KeyError:
            pass
        status = self._read(task_id)
        if len(self._statuses) >= self.MAX_STATUSES:
            del self._statuses[next(iter(self._statuses))]  # the oldest
        self._statuses[task_id] = status
        return status

    def _catch_up(self) -> None:
        if self._seen is None:
            (self._seen,) = self._db.fetch_one(_LAST_CHANGE, {})
            return
        changes = self._db.fetch_all(_CHANGES_SINCE, {"seq": self._seen})
        if not changes:
            return
        if changes[0][0] != self._seen + 1:  # pruned before this memo saw them
            self._statuses.clear()
        else:
            for _, task_id in changes:
                self._statuses.pop(task_id, None)
        self._seen = changes[-1][0]
