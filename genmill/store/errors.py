"""Errors the store raises when the database cannot be reached or written.

Callers treat them as passing: the API answers 503 (507 for a full disk) with
Retry-After, workers and the supervisor retry with backoff. Every other database error
(a constraint, a bad value) is a bug and stays what the driver raised.
"""

from __future__ import annotations

import errno
import sqlite3

from sqlalchemy import exc as sa_exc


class StoreUnavailable(Exception):
    """The database did not answer or refused a write for a reason that passes."""


class StoreFull(StoreUnavailable):
    """The disk under the database is full: freeing space (deleting tasks) fixes it."""


# SQLite's messages for conditions an operator can fix; anything else stays a bug.
_SQLITE_PASSING = ("locked", "busy", "disk i/o", "readonly", "read-only", "unable to open",
                   "database or disk is full", "no space")


def as_store_error(exc: BaseException) -> StoreUnavailable | None:
    """The StoreUnavailable that `exc` means, or None if it is not a passing fault."""
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return StoreUnavailable(f"database connection lost: {_first_line(exc.orig)}")
        original = exc.orig
        if not isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
            return None
    else:
        original = exc
    if isinstance(original, OSError) and original.errno == errno.ENOSPC:
        return StoreFull("no space left on device for the database")
    if isinstance(original, sqlite3.OperationalError | sqlite3.DatabaseError):
        message = str(original).lower()
        if "full" in message or "no space" in message:
            return StoreFull("no space left on device for the database")
        if not any(part in message for part in _SQLITE_PASSING):
            return None
        return StoreUnavailable(f"database unavailable: {_first_line(original)}")
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError) or _is_psycopg(original):
        return StoreUnavailable(f"database unavailable: {_first_line(original)}")
    return None


def _is_psycopg(exc: BaseException) -> bool:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg ships with genmill
        return False
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


def _first_line(exc: BaseException | None) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
