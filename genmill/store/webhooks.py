"""Webhook settings and the outbox: what the deliverer claims, leases and records.

Outbox rows are written by triggers (migration 10) in the transaction that changes their
task, so this module only reads them, claims them and records attempts. A claim is a
lease (`lease_owner`, `lease_expires`): several deliverers on one database never send
the same attempt twice at once, and a deliverer that dies leaves rows that another picks
up once their lease runs out. On PostgreSQL the candidate rows are read FOR UPDATE SKIP
LOCKED; SQLite's BEGIN IMMEDIATE serialises claimers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from genmill.store.connector import Database
from genmill.store.schema import task_webhooks, webhook_deliveries

_d = webhook_deliveries.c
_w = task_webhooks.c

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"  # out of attempts
GONE = "gone"  # the receiver answered 410: no more tries
REFUSED = "refused"  # the URL leads to a private address
DROPPED = "dropped"  # a best-effort event that was not delivered
PROGRESS = "task.progress"


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    receiver: str  # host:port: deliveries to one receiver share its concurrency slots
    events: tuple[str, ...]  # of start, progress, completed
    base_url: str  # base of output URLs in the payload


@dataclass(frozen=True)
class Delivery:
    seq: int
    id: str  # the webhook-id
    task_id: str
    owner: str
    event: str  # task.started | task.progress | task.completed
    url: str
    receiver: str
    base_url: str
    action: str
    status: str
    progress: int
    outputs: list[str]
    fail_reason: str
    submit_time: float
    start_time: float | None
    finish_time: float | None
    created_at: float
    attempts: int


_DELIVERY_COLUMNS = [webhook_deliveries.c[name] for name in Delivery.__dataclass_fields__]


def save_settings(conn: Connection, task_id: str, settings: WebhookSettings) -> None:
    """Inside the task's insert transaction: its webhook, before any trigger needs it."""
    conn.execute(insert(task_webhooks).values(
        task_id=task_id, url=settings.url, receiver=settings.receiver,
        events="," + ",".join(settings.events) + ",", base_url=settings.base_url))


def settings_of(db: Database, task_id: str) -> WebhookSettings | None:
    with db.read() as conn:
        row = conn.execute(select(_w.url, _w.receiver, _w.events, _w.base_url)
                           .where(_w.task_id == task_id)).first()
    if row is None:
        return None
    return WebhookSettings(row[0], row[1], tuple(e for e in row[2].split(",") if e), row[3])


def _claimable(now: float):
    return and_(_d.state == PENDING, _d.next_try <= now,
                or_(_d.lease_expires.is_(None), _d.lease_expires < now))


def any_due(db: Database) -> bool:
    """A cheap read first, so an idle deliverer never takes SQLite's write lock (on
    PostgreSQL one round trip: every deliverer asks 20 times a second)."""
    with db.single(writes=False) as conn:
        return conn.execute(select(_d.seq).where(_claimable(time.time())).limit(1)).first() \
            is not None


def claim(db: Database, owner: str, lease_seconds: float, free: Mapping[str, int],
          default_free: int, limit: int) -> list[Delivery]:
    """Lease up to `limit` due deliveries, at most `free[receiver]` (else `default_free`)
    per receiver; receivers with no free slot are not even read."""
    full = [receiver for receiver, slots in free.items() if slots <= 0]
    with db.write() as conn:
        # The clock is read once SQLite's write lock is held: a lease counted from before
        # a wait for it could be spent before the delivery even starts.
        now = time.time()
        candidates = (
            select(_d.seq, _d.receiver, _d.task_id, _d.event)
            .where(_claimable(now), *([_d.receiver.not_in(full)] if full else []))
            .order_by(_d.next_try)
            .limit(limit * 4)
            .with_for_update(skip_locked=True)
        )
        rows = conn.execute(candidates).all()
        stale = _superseded(conn, {seq: task_id for seq, _, task_id, event in rows
                                   if event == PROGRESS})
        if stale:
            conn.execute(update(webhook_deliveries).where(_d.seq.in_(stale))
                         .values(state=DROPPED, last_error="a later event of the task "
                                 "was already due; progress is sent best effort"))
        picked, taken = [], {}
        for seq, receiver, _, _ in rows:
            slots = free.get(receiver, default_free) - taken.get(receiver, 0)
            if seq not in stale and slots > 0 and len(picked) < limit:
                picked.append(seq)
                taken[receiver] = taken.get(receiver, 0) + 1
        if not picked:
            return []
        rows = conn.execute(
            update(webhook_deliveries)
            .where(_d.seq.in_(picked), _claimable(now))
            .values(lease_owner=owner, lease_expires=now + lease_seconds)
            .returning(*_DELIVERY_COLUMNS)
        ).all()
    return sorted((Delivery(*row) for row in rows), key=lambda d: d.seq)


def _superseded(conn: Connection, progress: dict[int, str]) -> set[int]:
    """Progress events whose task has a later event: sending them now would only
    arrive beside (or after) the newer news."""
    if not progress:
        return set()
    latest = dict(conn.execute(
        select(_d.task_id, func.max(_d.seq)).where(_d.task_id.in_(set(progress.values())))
        .group_by(_d.task_id)).all())
    return {seq for seq, task_id in progress.items() if latest.get(task_id, seq) > seq}


def record(db: Database, delivery: Delivery, owner: str, state: str, *,
           status_code: int | None = None, error: str = "", next_try: float | None = None,
           attempted: bool = True) -> None:
    """An attempt's outcome; gives the lease back. `next_try` for a pending row."""
    values: dict[str, Any] = {"state": state, "last_status": status_code,
                              "last_error": error[:500], "next_try": next_try,
                              "lease_owner": None, "lease_expires": None}
    if attempted:
        values.update(attempts=_d.attempts + 1, last_try=time.time())
    with db.write() as conn:
        conn.execute(update(webhook_deliveries)
                     .where(_d.seq == delivery.seq, _d.lease_owner == owner)
                     .values(**values))


def release(db: Database, owner: str) -> None:
    """A deliverer stopping: its leased rows go back, untried, for another to send."""
    with db.write() as conn:
        conn.execute(update(webhook_deliveries)
                     .where(_d.lease_owner == owner)
                     .values(lease_owner=None, lease_expires=None))


def of_task(db: Database, task_id: str) -> list[dict[str, Any]]:
    """A task's deliveries, oldest first, as `GET /v1/tasks/{id}/webhooks` shows them."""
    with db.read() as conn:
        rows = conn.execute(
            select(_d.id, _d.event, _d.url, _d.state, _d.attempts, _d.last_status,
                   _d.last_error, _d.last_try, _d.next_try, _d.created_at)
            .where(_d.task_id == task_id).order_by(_d.seq)
        ).all()
    return [{"webhook_id": r[0], "type": r[1], "url": r[2], "state": r[3],
             "attempts": r[4], "last_status_code": r[5], "last_error": r[6],
             "last_attempt_time": r[7], "next_attempt_time": r[8] if r[3] == PENDING else None,
             "created_time": r[9]} for r in rows]
