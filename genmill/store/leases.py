"""Named leases in the database: one holder at a time across every machine that shares it.

A lease is a row (name, holder, expires). Taking it is one upsert that succeeds only when
the row is free, expired, or already this holder's, so two machines racing for it cannot
both win; a holder that dies simply lets it expire. Used by the retention sweep (one
machine sweeps at a time).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sqlalchemy import Column, Float, MetaData, String, Table, delete, or_
from sqlalchemy.dialects import postgresql, sqlite

if TYPE_CHECKING:  # migrations (imported by the connector) create the table from here
    from genmill.store.connector import Database

leases = Table(
    "genmill_leases",
    MetaData(),
    Column("name", String(100), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires", Float, nullable=False),
)


def hold(db: Database, name: str, holder: str, seconds: float) -> bool:
    """Take or renew the lease for `seconds`; False if another holder has it."""
    now = time.time()
    dialect_insert = sqlite.insert if db.is_sqlite else postgresql.insert
    statement = dialect_insert(leases).values(name=name, holder=holder, expires=now + seconds)
    statement = statement.on_conflict_do_update(
        index_elements=[leases.c.name],
        set_={"holder": statement.excluded.holder, "expires": statement.excluded.expires},
        where=or_(leases.c.expires < now, leases.c.holder == holder),
    ).returning(leases.c.holder)  # a row back: inserted or updated, so ours
    with db.write() as conn:
        return conn.execute(statement).first() is not None


def release(db: Database, name: str, holder: str) -> None:
    """Give the lease up now (if this holder has it), so another may take it at once."""
    with db.write() as conn:
        conn.execute(delete(leases).where(leases.c.name == name, leases.c.holder == holder))
