"""Idempotency-Key claims: one task per (owner, key), taken in the task's own insert.

`claim` runs inside the transaction that inserts the task. The key's row is inserted
first with ON CONFLICT DO NOTHING: on PostgreSQL a concurrent claim of the same key
waits on the first one's uncommitted row and, once that commits, finds it; on SQLite
BEGIN IMMEDIATE serialises the two. Either way exactly one task is made per key, and a
claim that loses learns which task won.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from genmill.store.connector import Database
from genmill.store.schema import IDEMPOTENCY_SECONDS, idempotency_keys

_keys = idempotency_keys.c


@dataclass(frozen=True)
class IdempotencyClaim:
    owner: str
    key: str
    request_hash: str  # of what the client sent: same key, other request → refused


class AlreadyClaimed(Exception):
    """The key was claimed before; `task_id` is its task, `same_request` whether the
    request matches the one that claimed it."""

    def __init__(self, task_id: str, same_request: bool) -> None:
        super().__init__(task_id)
        self.task_id, self.same_request = task_id, same_request


def _expired(claim: IdempotencyClaim, now: float):
    return delete(idempotency_keys).where(
        _keys.owner == claim.owner, _keys.key == claim.key,
        _keys.created_at < now - IDEMPOTENCY_SECONDS,
    )


def _existing(conn: Connection, claim: IdempotencyClaim, now: float) -> AlreadyClaimed | None:
    row = conn.execute(
        select(_keys.task_id, _keys.request_hash).where(
            _keys.owner == claim.owner, _keys.key == claim.key,
            _keys.created_at >= now - IDEMPOTENCY_SECONDS,
        )
    ).first()
    if row is None:
        return None
    return AlreadyClaimed(row.task_id, row.request_hash == claim.request_hash)


def lookup(db: Database, claim: IdempotencyClaim) -> AlreadyClaimed | None:
    """The key's claim if it has one (a cheap read before any work on the request: one
    round trip on PostgreSQL)."""
    with db.single(writes=False) as conn:
        return _existing(conn, claim, time.time())


def claim(conn: Connection, claim: IdempotencyClaim, task_id: str) -> None:
    """Inside the task's insert transaction: take the key for `task_id`, or raise
    AlreadyClaimed (the caller's transaction then rolls back, inserting nothing)."""
    now = time.time()
    conn.execute(_expired(claim, now))
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    inserted = conn.execute(
        dialect.insert(idempotency_keys)
        .values(owner=claim.owner, key=claim.key, request_hash=claim.request_hash,
                task_id=task_id, created_at=now)
        .on_conflict_do_nothing(index_elements=["owner", "key"])
        .returning(_keys.task_id)  # a row back: ours (rowcount is not reliable here)
    ).first()
    if inserted is not None:
        return
    existing = _existing(conn, claim, now)
    if existing is None:  # the other claim's row went between the two statements
        raise RuntimeError("idempotency key changed during the claim; retry")
    raise existing
