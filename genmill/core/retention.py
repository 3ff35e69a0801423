"""Retention: remove the files of tasks finished longer ago than GENMILL_RETENTION, and
the task rows themselves after GENMILL_RETENTION_TASKS.

Every `genmill serve` and `genmill worker` runs a sweeper thread; a lease in the database
lets one machine sweep at a time. Work goes in small batches (one short read, then file
deletions, then one short write), so polls never wait behind a long transaction. A task
whose files are gone keeps its row: its status stays readable and the file routes answer
410 "output expired". Files with no task row are left alone: a submission stores its
inputs a moment before it inserts the row.
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass

from genmill.storage import Storage
from genmill.store import expiry, leases
from genmill.store.connector import Database

log = logging.getLogger("genmill.retention")

LEASE = "retention"
LEASE_SECONDS = 60.0  # renewed every batch; a sweeper that dies frees it within a minute


@dataclass
class Swept:
    files: int = 0  # tasks whose files were removed
    rows: int = 0  # task rows removed


class RetentionSweeper:
    def __init__(self, db: Database, storage: Storage, files_after: float = 0.0,
                 rows_after: float = 0.0, batch: int = 100,
                 files_after_by_owner: dict[str, float] | None = None) -> None:
        self.db, self.storage = db, storage
        self.files_after, self.rows_after, self.batch = files_after, rows_after, batch
        # Per key name (the owner of its tasks); 0 keeps that key's files.
        self.by_owner = files_after_by_owner or {}
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"

    @property
    def enabled(self) -> bool:
        return bool(self.files_after or self.rows_after or any(self.by_owner.values()))

    def _files_kept_for(self, owner: str) -> float:
        return self.by_owner.get(owner, self.files_after)

    def sweep_once(self) -> Swept | None:
        """One full sweep, or None if another machine holds the lease."""
        if not self.enabled or not self._hold():
            return None
        swept = Swept()
        try:
            now = time.time()
            if self.files_after or any(self.by_owner.values()):
                swept.files = self._sweep_files(now)
            if self.rows_after:
                swept.rows = self._sweep_rows(now - self.rows_after)
        finally:
            leases.release(self.db, LEASE, self.holder)
        if swept.files or swept.rows:
            log.info("retention: removed the files of %d task(s), %d task row(s)",
                     swept.files, swept.rows)
        return swept

    def _hold(self) -> bool:
        return leases.hold(self.db, LEASE, self.holder, LEASE_SECONDS)

    def _sweep_files(self, now: float) -> int:
        removed = 0
        # The latest cutoff any owner has; each row is then held to its owner's own.
        latest = now - min(d for d in (self.files_after, *self.by_owner.values()) if d)
        ids = self.storage.task_ids()
        while batch := list(itertools.islice(ids, self.batch)):
            for task_id, owner, finished in expiry.finished_before(self.db, batch, latest):
                kept_for = self._files_kept_for(owner)
                if kept_for and finished < now - kept_for:
                    self.storage.delete_task(task_id)
                    removed += 1
            if not self._hold():  # renewed per batch; lost only if we stalled a minute
                break
        return removed

    def _sweep_rows(self, cutoff: float) -> int:
        removed = 0
        while batch := expiry.oldest_finished(self.db, cutoff, self.batch):
            for task_id in batch:
                self.storage.delete_task(task_id)  # files first: never a file without a row
            removed += expiry.delete_finished(self.db, batch, cutoff)
            if len(batch) < self.batch or not self._hold():
                break
        return removed


class SweeperThread:
    """Runs `sweep_once` every `interval` seconds in a daemon thread until stopped."""

    def __init__(self, sweeper: RetentionSweeper, interval: float) -> None:
        self.sweeper, self.interval = sweeper, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="genmill-retention", daemon=True)

    def start(self) -> None:
        if self.sweeper.enabled:
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sweeper.sweep_once()
            except Exception:  # a database or storage hiccup: try again next round
                log.exception("retention sweep failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
