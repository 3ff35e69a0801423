"""Queries on the task table: insert, read, list, and the queue (claim, lease, reap)."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ARRAY,
    Row,
    String,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)

from genmill.domain import Kind, Status, Task, TaskStatus
from genmill.store.connector import Database
from genmill.store.idempotency import IdempotencyClaim
from genmill.store.idempotency import claim as claim_key
from genmill.store.schema import task_counts, tasks, workers
from genmill.store.status_memo import StatusMemo
from genmill.store.webhooks import WebhookSettings, save_settings

_COLUMNS = [c for c in tasks.c if c.name != "seq"]
_FIELDS = [c.name for c in _COLUMNS]
# Prepared once: the status poll is the hottest query genmill runs.
_GET_BY_ID = select(*_COLUMNS).where(tasks.c.id == bindparam("task_id"))
_STATUS_FIELDS = list(TaskStatus._fields)
_STATUS_KIND, _STATUS_STATUS, _STATUS_OUTPUTS = (
    _STATUS_FIELDS.index(name) for name in ("kind", "status", "outputs")
)
_KINDS = {kind.value: kind for kind in Kind}
_STATUSES = {status.value: status for status in Status}
_GET_STATUS = select(*(tasks.c[name] for name in _STATUS_FIELDS)).where(
    tasks.c.id == bindparam("task_id")
)

_GET_STATUSES = select(*(tasks.c[name] for name in _STATUS_FIELDS)).where(
    tasks.c.id.in_(bindparam("task_ids", expanding=True))
)
# PostgreSQL: one array parameter, so the statement is the same whatever the number of
# ids and stays prepared on the server.
_GET_STATUSES_PG = select(*(tasks.c[name] for name in _STATUS_FIELDS)).where(
    tasks.c.id == func.any(bindparam("task_ids", type_=ARRAY(String)))
)

# Waiting or running tasks of one owner, summed from the trigger-kept counts.
_UNFINISHED = select(func.coalesce(func.sum(task_counts.c.n), 0)).where(
    task_counts.c.owner == bindparam("owner"),
    task_counts.c.status.not_in([Status.SUCCESS.value, Status.FAILURE.value]),
)


_ANY_QUEUED = select(exists().where(tasks.c.status == bindparam("queued")))


_QUEUED_ARGS = {"queued": Status.QUEUED.value}

# The statements a worker runs for every task, built once: building one (coercions, bind
# parameters, the cache key) cost more CPU than running it on SQLite.
_HELD_BY = and_(tasks.c.lease_owner == bindparam("worker"),
                tasks.c.status == Status.IN_PROGRESS.value)
_MINE = and_(tasks.c.id == bindparam("task_id"), _HELD_BY)
_HELD = select(tasks.c.id, tasks.c.cancel_requested).where(_HELD_BY)
_RENEW_MANY = (update(tasks)
               .where(tasks.c.id.in_(bindparam("task_ids", expanding=True)), _HELD_BY)
               .values(lease_expires=bindparam("expires"))
               .returning(tasks.c.id, tasks.c.cancel_requested))
_PROGRESS_MANY = (update(tasks)
                  .where(_MINE, tasks.c.progress <= bindparam("percent"))
                  .values(progress=bindparam("percent")))
_ENDED = {"status": bindparam("end_status"), "finish_time": bindparam("end_time"),
          "lease_owner": None, "lease_expires": None, "fail_reason": bindparam("end_reason")}
_FINISH = {
    Status.SUCCESS: update(tasks).where(_MINE).values(
        **_ENDED, progress=100, outputs=bindparam("end_outputs", type_=tasks.c.outputs.type),
        message=""),
    Status.FAILURE: update(tasks).where(_MINE).values(**_ENDED),
}


@functools.lru_cache(maxsize=64)
def _claim_statement(models: tuple[str, ...] | None, prefer: tuple[str, ...],
                     many: bool = False) -> Any:
    """The claim UPDATE for one pool's models and preferences, built once: building it
    cost more CPU than running it (a relay runner claims hundreds of tasks a minute).
    The times and the worker are bound at each claim; with `many`, up to `claim_limit`
    tasks at once."""
    order = [tasks.c.priority.desc(), tasks.c.seq]
    if prefer:
        order.insert(0, case((tasks.c.submit_time < bindparam("claim_fair_before"), 0),
                             (tasks.c.model.in_(list(prefer)), 1), else_=2))
    # FOR UPDATE SKIP LOCKED on PostgreSQL (concurrent claimers skip each other's row);
    # SQLite renders no locking clause and its BEGIN IMMEDIATE serialises writers.
    next_task = (
        select(tasks.c.seq)
        .where(tasks.c.status == Status.QUEUED.value,
               *([tasks.c.model.in_(list(models))] if models is not None else []))
        .order_by(*order)
        .limit(bindparam("claim_limit") if many else 1)
        .with_for_update(skip_locked=True)
    )
    if many:
        # A materialized CTE: PostgreSQL may run a LIMIT ... SKIP LOCKED subquery of an
        # IN once per row it checks, taking more tasks than the limit.
        batch = next_task.cte("claim_batch").prefix_with("MATERIALIZED", dialect="postgresql")
        which = tasks.c.seq.in_(select(batch.c.seq))
    else:
        which = tasks.c.seq == next_task.scalar_subquery()
    return (
        update(tasks)
        .where(which, tasks.c.status == Status.QUEUED.value)
        .values(
            status=Status.IN_PROGRESS.value,
            start_time=bindparam("claim_now"),
            attempts=tasks.c.attempts + 1,
            lease_owner=bindparam("claim_worker"),
            lease_expires=bindparam("claim_expires"),
            progress=0,
            message="",
        )
        .returning(*_COLUMNS)
    )


def _row_to_task(row: Row[Any] | tuple) -> Task:
    data = dict(zip(_FIELDS, row, strict=True))
    data["kind"] = Kind(data["kind"])
    data["status"] = Status(data["status"])
    data["cancel_requested"] = bool(data["cancel_requested"])
    return Task(**data)


def _row_to_status(row: tuple) -> TaskStatus:
    values = list(row)
    values[_STATUS_KIND] = _KINDS[values[_STATUS_KIND]]
    values[_STATUS_STATUS] = _STATUSES[values[_STATUS_STATUS]]
    values[_STATUS_OUTPUTS] = tuple(values[_STATUS_OUTPUTS])  # immutable: it may be shared
    return TaskStatus._make(values)


def _task_to_values(task: Task) -> dict[str, Any]:
    values = {name: getattr(task, name) for name in _FIELDS}
    values["kind"] = task.kind.value
    values["status"] = task.status.value
    return values


@dataclass(frozen=True)
class LeaseState:
    """What a worker learns when it renews its lease."""

    held: bool  # False: the task is no longer this worker's (reaped, deleted, finished)
    cancel_requested: bool = False


@dataclass(frozen=True)
class Reaped:
    task_id: str
    status: Status


class TaskStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._memos = threading.local()

    # -- submit and read -------------------------------------------------------------

    def insert(self, task: Task, max_unfinished: int = 0,
               idempotency: IdempotencyClaim | None = None,
               webhook: WebhookSettings | None = None) -> bool:
        """Store a new task. With `max_unfinished` > 0, only while its owner has fewer
        tasks waiting or running: False, and nothing stored, when it has that many. With
        `idempotency`, only if its key is not claimed yet (else `AlreadyClaimed`, and
        nothing is stored). `webhook` is stored in the same transaction, so no change
        of the task can happen before its webhook is known.

        The count and the insert are one step. Concurrent inserts of one owner take
        turns (`Database.serialize_owner`), so each counts the ones committed before it.
        """
        with self.db.write() as conn:
            if max_unfinished:
                self.db.serialize_owner(conn, task.owner)
                if conn.execute(_UNFINISHED, {"owner": task.owner}).scalar_one() >= max_unfinished:
                    return False
            if idempotency is not None:
                claim_key(conn, idempotency, task.id)
            conn.execute(insert(tasks).values(**_task_to_values(task)))
            if webhook is not None:
                save_settings(conn, task.id, webhook)
            if task.status == Status.QUEUED:
                self.db.notify_new_work(conn)
        return True

    def get(self, task_id: str) -> Task | None:
        row = self.db.fetch_one(_GET_BY_ID, {"task_id": task_id})
        return _row_to_task(row) if row else None

    def get_status(self, task_id: str) -> TaskStatus | None:
        """The polled fields only: no params or inputs to decode on the hottest path.

        On an event loop's thread (SQLite), from that thread's status memo."""
        turn = self.db.loop_turn()
        if turn is None:
            return self._read_status(task_id)
        memo = getattr(self._memos, "memo", None)
        if memo is None:
            memo = self._memos.memo = StatusMemo(self.db, self._read_status)
        return memo.get(task_id, turn)

    def get_statuses(self, task_ids: Sequence[str]) -> dict[str, TaskStatus]:
        """The polled fields of many tasks in one query (absent ids are left out): the
        many polls in flight at once on a networked database share a round trip."""
        if self.db.is_sqlite:
            rows = self.db.fetch_all(_GET_STATUSES, {"task_ids": list(task_ids)})
        else:
            rows = self.db.fetch_all_direct(_GET_STATUSES_PG, {"task_ids": list(task_ids)})
        return {row[0]: _row_to_status(row) for row in rows}

    def _read_status(self, task_id: str) -> TaskStatus | None:
        row = self.db.fetch_one(_GET_STATUS, {"task_id": task_id})
        return _row_to_status(row) if row else None

    def list(
        self,
        owner: str,
        offset: int,
        limit: int,
        statuses: list[Status] | None = None,
        kind: Kind | None = None,
        model: str | None = None,
    ) -> tuple[list[Task], int]:
        """One page, newest first, and the total that matches the filters.

        The page walks the (owner, seq) index; the total sums the trigger-kept counts.
        Neither grows with the number of tasks stored.
        """
        conditions = [tasks.c.owner == owner]
        counted = [task_counts.c.owner == owner]
        for table, filters in ((tasks, conditions), (task_counts, counted)):
            if statuses:
                filters.append(table.c.status.in_([s.value for s in statuses]))
            if kind:
                filters.append(table.c.kind == kind.value)
            if model:
                filters.append(table.c.model == model)
        with self.db.read() as conn:
            rows = conn.execute(
                select(*_COLUMNS).where(*conditions).order_by(tasks.c.seq.desc())
                .offset(offset).limit(limit)
            ).all()
            total = conn.execute(
                select(func.coalesce(func.sum(task_counts.c.n), 0)).where(*counted)
            ).scalar_one()
        return [_row_to_task(r) for r in rows], int(total)

    def count_unfinished(self, owner: str) -> int:
        """Tasks of this owner that are waiting or running (from the kept counts)."""
        with self.db.read() as conn:
            return int(conn.execute(_UNFINISHED, {"owner": owner}).scalar_one())

    # -- the queue -------------------------------------------------------------------

    def claim(self, worker_id: str, lease_seconds: float,
              models: Sequence[str] | None = None, prefer: Sequence[str] = (),
              fair_after: float = 30.0) -> Task | None:
        """Take the next queued task (highest priority, then oldest) and lease it; with
        `models`, only a task for one of them (a worker pool's share of the queue).

        With `prefer` (the models a worker holds loaded), their tasks come first, except
        that any task waiting longer than `fair_after` seconds comes before them all."""
        if self.db.is_sqlite and not self.db.fetch_one(_ANY_QUEUED, _QUEUED_ARGS)[0]:
            # Idle SQLite workers ask many times a second: asking with a read leaves the
            # write lock to submits (a BEGIN IMMEDIATE per poll starved other writers).
            return None
        stmt = _claim_statement(None if models is None else tuple(models), tuple(prefer))
        with self.db.single() as conn:  # one statement: its own transaction
            # The clock is read once the write lock is held (SQLite's BEGIN IMMEDIATE may
            # wait for it): a lease counted from before that wait was seen to expire 3 s
            # after its claim under load.
            now = time.time()
            values = {"claim_now": now, "claim_worker": worker_id,
                      "claim_expires": now + lease_seconds}
            if prefer:
                values["claim_fair_before"] = now - fair_after
            row = conn.execute(stmt, values).first()
        return _row_to_task(row) if row else None

    def claim_many(self, worker_id: str, lease_seconds: float, models: Sequence[str],
                   limit: int) -> list[Task]:
        """Take up to `limit` queued tasks of `models` in one statement, in queue order
        (the relay runner's claim: hundreds of tasks in flight, taken in bursts)."""
        if self.db.is_sqlite and not self.db.fetch_one(_ANY_QUEUED, _QUEUED_ARGS)[0]:
            return []
        stmt = _claim_statement(tuple(models), (), many=True)
        with self.db.single() as conn:
            now = time.time()  # with the write lock held, as in `claim`
            rows = conn.execute(stmt, {"claim_now": now, "claim_worker": worker_id,
                                       "claim_expires": now + lease_seconds,
                                       "claim_limit": limit}).all()
        claimed = [_row_to_task(row) for row in rows]
        claimed.sort(key=lambda task: (-task.priority, task.submit_time))
        return claimed

    def _mine(self, task_id: str, worker_id: str):
        return and_(
            tasks.c.id == task_id,
            tasks.c.lease_owner == worker_id,
            tasks.c.status == Status.IN_PROGRESS.value,
        )

    def renew(self, task_id: str, worker_id: str, lease_seconds: float) -> LeaseState:
        with self.db.single() as conn:
            row = conn.execute(
                update(tasks)
                .where(self._mine(task_id, worker_id))
                .values(lease_expires=time.time() + lease_seconds)
                .returning(tasks.c.cancel_requested)
            ).first()
        if row is None:
            return LeaseState(held=False)
        return LeaseState(held=True, cancel_requested=bool(row[0]))

    def renew_many(self, task_ids: Sequence[str], worker_id: str,
                   lease_seconds: float) -> dict[str, LeaseState]:
        """Renew many leases in one statement (the relay runner holds hundreds); a task
        missing from the answer is no longer this worker's."""
        if not task_ids:
            return {}
        with self.db.single() as conn:
            rows = conn.execute(_RENEW_MANY, {"task_ids": list(task_ids), "worker": worker_id,
                                              "expires": time.time() + lease_seconds}).all()
        held = {row[0]: LeaseState(held=True, cancel_requested=bool(row[1])) for row in rows}
        return {task_id: held.get(task_id, LeaseState(held=False)) for task_id in task_ids}

    def held(self, worker_id: str) -> dict[str, bool]:
        """The tasks this worker holds (running, its lease), each with whether a cancel
        was asked: the relay runner's check between two renewals, a read, where a
        renewal writes every row it holds."""
        with self.db.single(writes=False) as conn:
            return {row[0]: bool(row[1])
                    for row in conn.execute(_HELD, {"worker": worker_id})}

    def cancel_requested(self, task_id: str) -> bool:
        with self.db.single(writes=False) as conn:
            value = conn.execute(
                select(tasks.c.cancel_requested).where(tasks.c.id == task_id)
            ).scalar()
        # A deleted task counts as canceled: nobody is waiting for its outputs.
        return True if value is None else bool(value)

    def set_progress(self, task_id: str, worker_id: str, progress: int, message: str) -> bool:
        with self.db.single() as conn:
            result = conn.execute(
                update(tasks)
                .where(self._mine(task_id, worker_id), tasks.c.progress <= progress)
                .values(progress=progress, message=message[:500])
            )
        return result.rowcount > 0

    def set_progress_many(self, progress: dict[str, int], worker_id: str) -> None:
        """Several tasks' progress in one transaction (the relay runner's, once a second)."""
        if not progress:
            return
        with self.db.write() as conn:
            conn.execute(_PROGRESS_MANY, [{"task_id": task_id, "worker": worker_id,
                                           "percent": percent}
                                          for task_id, percent in progress.items()])

    def finish(
        self,
        task_id: str,
        worker_id: str,
        status: Status,
        outputs: list[str] | None = None,
        fail_reason: str = "",
    ) -> bool:
        """End a leased task. False if it was no longer this worker's (reaped or deleted)."""
        values = {"task_id": task_id, "worker": worker_id, "end_status": status.value,
                  "end_time": time.time(), "end_reason": fail_reason}
        if status == Status.SUCCESS:
            values["end_outputs"] = outputs or []
        with self.db.single() as conn:
            result = conn.execute(_FINISH[status], values)
        return result.rowcount > 0

    def release(self, task_id: str, worker_id: str) -> bool:
        """Give a running task back to the queue (worker shutting down): not an attempt."""
        with self.db.write() as conn:
            result = conn.execute(
                update(tasks)
                .where(self._mine(task_id, worker_id))
                .values(
                    status=Status.QUEUED.value,
                    attempts=tasks.c.attempts - 1,
                    lease_owner=None,
                    lease_expires=None,
                    progress=0,
                    message="",
                    start_time=None,
                )
            )
            if result.rowcount:
                self.db.notify_new_work(conn)
        return result.rowcount > 0

    def reap(self) -> list[Reaped]:
        """Tasks whose lease expired: re-queue them, or fail them once out of attempts."""
        now = time.time()
        expired = and_(
            tasks.c.status == Status.IN_PROGRESS.value, tasks.c.lease_expires < now
        )
        reaped: list[Reaped] = []
        with self.db.write() as conn:
            for row in conn.execute(
                update(tasks)
                .where(expired, tasks.c.cancel_requested.is_(True))
                .values(
                    status=Status.FAILURE.value,
                    fail_reason="canceled",
                    finish_time=now,
                    lease_owner=None,
                    lease_expires=None,
                )
                .returning(tasks.c.id)
            ):
                reaped.append(Reaped(row[0], Status.FAILURE))
            for row in conn.execute(
                update(tasks)
                .where(expired, tasks.c.attempts >= tasks.c.max_attempts)
                .values(
                    status=Status.FAILURE.value,
                    fail_reason=(
                        "worker lost: the worker running this task stopped responding "
                        "and the task ran out of attempts"
                    ),
                    finish_time=now,
                    lease_owner=None,
                    lease_expires=None,
                )
                .returning(tasks.c.id)
            ):
                reaped.append(Reaped(row[0], Status.FAILURE))
            requeued = conn.execute(
                update(tasks)
                .where(expired)
                .values(
                    status=Status.QUEUED.value,
                    lease_owner=None,
                    lease_expires=None,
                    progress=0,
                    message="",
                    start_time=None,
                )
                .returning(tasks.c.id)
            ).all()
            reaped.extend(Reaped(row[0], Status.QUEUED) for row in requeued)
            if requeued:
                self.db.notify_new_work(conn)
        return reaped

    # -- cancel and delete -----------------------------------------------------------

    def cancel(self, task_id: str) -> Task | None:
        """End a waiting task now; flag a running one for its worker. Returns the task."""
        now = time.time()
        waiting = [Status.NOT_START.value, Status.SUBMITTED.value, Status.QUEUED.value]
        with self.db.write() as conn:
            conn.execute(
                update(tasks)
                .where(tasks.c.id == task_id, tasks.c.status.in_(waiting))
                .values(status=Status.FAILURE.value, fail_reason="canceled", finish_time=now)
            )
            conn.execute(
                update(tasks)
                .where(tasks.c.id == task_id, tasks.c.status == Status.IN_PROGRESS.value)
                .values(cancel_requested=True)
            )
        return self.get(task_id)

    def delete(self, task_id: str) -> bool:
        with self.db.write() as conn:
            result = conn.execute(delete(tasks).where(tasks.c.id == task_id))
        return result.rowcount > 0

    # -- workers ---------------------------------------------------------------------

    def worker_seen(self, worker_id: str, host: str, pid: int, started_at: float,
                    device: str = "cpu", loaded: Sequence[str] = ()) -> None:
        now = time.time()
        with self.db.write() as conn:
            updated = conn.execute(
                update(workers).where(workers.c.id == worker_id)
                .values(last_seen=now, loaded=list(loaded))
            ).rowcount
            if not updated:
                conn.execute(
                    insert(workers).values(
                        id=worker_id, host=host, pid=pid, started_at=started_at, last_seen=now,
                        device=device, loaded=list(loaded),
                    )
                )

    def worker_gone(self, worker_id: str) -> None:
        with self.db.write() as conn:
            conn.execute(delete(workers).where(workers.c.id == worker_id))

    def worker_process_gone(self, host: str, pid: int) -> None:
        """A supervisor saw one of its worker processes die without signing off."""
        with self.db.write() as conn:
            conn.execute(delete(workers).where(workers.c.host == host, workers.c.pid == pid))

    def worker_list(self, within_seconds: float) -> list[dict]:
        """The workers seen in the last N seconds: host, pid, device, loaded models."""
        since = time.time() - within_seconds
        with self.db.read() as conn:
            rows = conn.execute(
                select(workers.c.host, workers.c.pid, workers.c.device, workers.c.loaded)
                .where(workers.c.last_seen >= since)
                .order_by(workers.c.host, workers.c.device, workers.c.pid)
            ).all()
        return [{"host": host, "pid": pid, "device": device, "loaded": list(loaded or [])}
                for host, pid, device, loaded in rows]

    def live_workers(self, within_seconds: float) -> int:
        since = time.time() - within_seconds
        with self.db.read() as conn:
            count = conn.execute(
                select(func.count()).select_from(workers).where(workers.c.last_seen >= since)
            ).scalar_one()
        return int(count)

    def forget_workers(self, older_than_seconds: float) -> None:
        cutoff = time.time() - older_than_seconds
        with self.db.single() as conn:
            conn.execute(delete(workers).where(workers.c.last_seen < cutoff))

    # -- lost workers and engines ----------------------------------------------------

    def expire_leases_of(self, host: str, pid: int) -> int:
        """A supervisor saw this worker process die: end its leases now, so that the next
        reap re-queues (or fails) its tasks at once instead of after the lease period."""
        with self.db.write() as conn:
            result = conn.execute(
                update(tasks)
                .where(tasks.c.status == Status.IN_PROGRESS.value,
                       tasks.c.lease_owner.startswith(f"{host}:{pid}:", autoescape=True))
                .values(lease_expires=0)
            )
        return result.rowcount

    def retry_or_fail(self, task_id: str, worker_id: str, reason: str) -> Status | None:
        """The run was lost (its engine process died): the attempt counts. Back to the
        queue while attempts remain, else FAILURE with `reason`. None if not ours."""
        with self.db.write() as conn:
            row = conn.execute(
                update(tasks)
                .where(self._mine(task_id, worker_id),
                       tasks.c.attempts >= tasks.c.max_attempts)
                .values(status=Status.FAILURE.value, fail_reason=reason,
                        finish_time=time.time(), lease_owner=None, lease_expires=None)
                .returning(tasks.c.id)
            ).first()
            if row is not None:
                return Status.FAILURE
            result = conn.execute(
                update(tasks)
                .where(self._mine(task_id, worker_id))
                .values(status=Status.QUEUED.value, lease_owner=None, lease_expires=None,
                        progress=0, message="", start_time=None)
            )
            if not result.rowcount:
                return None
            self.db.notify_new_work(conn)
        return Status.QUEUED
