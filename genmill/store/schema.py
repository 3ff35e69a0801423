"""The tables. The task table is also the queue: there is no second broker to drift."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

schema_version = Table(
    "genmill_schema",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", Float, nullable=False),
)

tasks = Table(
    "tasks",
    metadata,
    # `seq` orders tasks (newest first in lists, FIFO in the queue) on both dialects.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("action", String(32), nullable=False),
    Column("model", String(200), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("params", JSON, nullable=False),
    Column("inputs", JSON, nullable=False),
    Column("progress", Integer, nullable=False, default=0),
    Column("message", Text, nullable=False, default=""),
    Column("outputs", JSON, nullable=False),
    Column("fail_reason", Text, nullable=False, default=""),
    Column("submit_time", Float, nullable=False),
    Column("start_time", Float),
    Column("finish_time", Float),
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False),
    Column("priority", Integer, nullable=False, default=0),
    Column("time_limit", Float, nullable=False),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("lease_owner", String(100)),
    Column("lease_expires", Float),
    # Unix time by which the task must be final, else it fails "deadline exceeded"
    # (migration 7 adds it to databases made before).
    Column("deadline", Float),
)

Index("ix_tasks_queue", tasks.c.status, tasks.c.priority.desc(), tasks.c.seq)
Index("ix_tasks_owner_seq", tasks.c.owner, tasks.c.seq)
Index("ix_tasks_lease", tasks.c.status, tasks.c.lease_expires)
Index("ix_tasks_deadline", tasks.c.deadline)

# Per (owner, kind, model, status) task counts, kept by triggers (migration 2), so the
# total of a listed page is a sum over a few rows instead of a count over every task.
task_counts = Table(
    "task_counts",
    metadata,
    Column("owner", String(200), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("status", String(16), primary_key=True),
    Column("n", Integer, nullable=False),
)

# SQLite only (migrations 3 and 4): the id of every task inserted, deleted or updated in a
# column a poll shows (not lease renewals), in commit order, appended by triggers; the
# newest CHANGES_KEPT are kept. It tells the status memo
# of a server process which remembered statuses a commit made stale (store/status_memo.py).
CHANGES_KEPT = 10_000
task_changes = Table(
    "task_changes",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("task_id", String(64), nullable=False),
    sqlite_autoincrement=True,  # never reuses a number, so a gap means rows were pruned
)

workers = Table(
    "workers",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("host", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("device", String(32), nullable=False, default="cpu"),  # "cpu" or "cuda:N"
    Column("loaded", JSON, nullable=False, default=list),  # models its engine host holds
)

# One row per change of a task that a client sees (status, progress, outputs), appended
# by triggers in the transaction that made the change (migration 5), so every server
# process on the database reads the same stream. `seq` is the SSE event id: it rises per
# task (a task's row lock orders its changes) and across tasks. Deleted with their task.
task_events = Table(
    "task_events",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("task_id", String(64), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("action", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("progress", Integer, nullable=False),
    Column("outputs", JSON, nullable=False),
    Column("fail_reason", Text, nullable=False),
    Column("submit_time", Float, nullable=False),
    Column("start_time", Float),
    Column("finish_time", Float),
    sqlite_autoincrement=True,
)
Index("ix_task_events_task", task_events.c.task_id, task_events.c.seq)
Index("ix_task_events_owner", task_events.c.owner, task_events.c.seq)

# Idempotency-Key of a submit (migration 6): the first task made under (owner, key), and
# a hash of the request that made it, so a retry gets that task back and a different
# request under the same key is refused. Kept IDEMPOTENCY_SECONDS.
IDEMPOTENCY_SECONDS = 24 * 3600
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("owner", String(200), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("task_id", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
)
Index("ix_idempotency_keys_created", idempotency_keys.c.created_at)

# A task's webhook (migration 10): where its events go, which ones, and the base of the
# output URLs its client saw at submit (the deliverer has no request to read it from).
# `events` is a comma-framed list (",start,completed,") so a trigger tests one with LIKE.
task_webhooks = Table(
    "task_webhooks",
    metadata,
    Column("task_id", String(64), primary_key=True),
    Column("url", Text, nullable=False),
    Column("receiver", String(300), nullable=False),
    Column("events", String(64), nullable=False),
    Column("base_url", Text, nullable=False),
)

# The webhook outbox (migration 10): one row per event to deliver, inserted by triggers on
# the task table in the transaction that made the change, with a snapshot of what the
# status document shows. `id` is the webhook-id, the same on every attempt. `receiver` is
# host:port, the unit of the deliverer's concurrency. `state`: pending, delivered, failed
# (out of attempts), gone (the receiver answered 410), refused (a private address),
# dropped (a best-effort event that could not be sent). Deleted with their task.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("task_id", String(64), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("event", String(32), nullable=False),
    Column("url", Text, nullable=False),
    Column("receiver", String(300), nullable=False),
    Column("base_url", Text, nullable=False),
    Column("action", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("progress", Integer, nullable=False),
    Column("outputs", JSON, nullable=False),
    Column("fail_reason", Text, nullable=False),
    Column("submit_time", Float, nullable=False),
    Column("start_time", Float),
    Column("finish_time", Float),
    Column("created_at", Float, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_try", Float),
    Column("last_try", Float),
    Column("last_status", Integer),
    Column("last_error", Text, nullable=False),
    Column("lease_owner", String(100)),
    Column("lease_expires", Float),
    sqlite_autoincrement=True,
)
Index("ix_webhook_deliveries_due", webhook_deliveries.c.state, webhook_deliveries.c.next_try)
Index("ix_webhook_deliveries_task", webhook_deliveries.c.task_id, webhook_deliveries.c.seq)
