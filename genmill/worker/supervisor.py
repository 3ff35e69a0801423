"""Starts N worker processes, restarts any that die, reaps expired leases, stops them all.

One supervisor per `genmill serve` or `genmill worker`; several on many machines may share
one database (reaping is a single atomic UPDATE, safe to run from each).

The watch loop survives any error: a database outage is retried with backoff (workers
are still restarted meanwhile). When a worker dies, its leases end at once so that its
task is re-queued on the next reap rather than after the lease period.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
import threading
import time

from genmill.components import Components
from genmill.config import Settings
from genmill.core.retention import SweeperThread
from genmill.domain import Status
from genmill.store.deadlines import expire_deadlines
from genmill.store.errors import StoreUnavailable
from genmill.worker import pools
from genmill.worker.relay_runner import relay_main
from genmill.worker.retry import MAX_DELAY, Backoff
from genmill.worker.runner import worker_main
from genmill.worker.webhooks import Deliverer

log = logging.getLogger("genmill.supervisor")

REAP_INTERVAL = 1.0
RESTART_DELAY = 1.0
STOP_TIMEOUT = 15.0
FORGET_EVERY = 30.0


class Supervisor:
    def __init__(self, settings: Settings, count: int) -> None:
        self.settings = settings
        self.count = count
        self._ctx = multiprocessing.get_context("spawn")
        self._processes: list[multiprocessing.process.BaseProcess | None] = [None] * count
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="genmill-supervisor",
                                        daemon=True)
        parts = Components(settings, pool_size=1)
        self.db, self.store, self.storage = parts.database, parts.store, parts.storage
        self._died_at: dict[int, float] = {}  # slot -> when its worker was seen dead
        self._gone: list[int] = []  # pids of dead workers whose leases are still to end
        self._backoff = Backoff(first=REAP_INTERVAL / 2, cap=5.0)
        self._retry_at = 0.0  # after a database failure: when to try again
        self._reap_after = 0.0  # after an outage: when reaping may resume
        self._forget_at = 0.0  # when to forget silent workers next
        # One per machine; a lease in the database lets one of them sweep at a time.
        self.retention = SweeperThread(parts.retention, settings.retention_sweep_seconds)
        # Webhooks go out from a thread of their own: a slow receiver never holds this one.
        self.webhooks = Deliverer(settings, self.db, parts.webhook_secrets)

        # CPU workers, then one per GPU (worker/pools.py). No workers asked for (`serve
        # --workers 0`: an API-only process) means no GPU workers either.
        gpus = pools.gpu_indexes(settings, parts.registry) if count else []
        self._slots, self.labels = pools.worker_settings(settings.model_copy(
            update={"workers": count}), gpus)
        self._targets = [worker_main] * len(self._slots)
        if pools.relay_models(parts.registry):  # one process waits on every upstream
            self._slots.append(settings.model_copy(update={"gpus": gpus}))
            self.labels.append("relay")
            self._targets.append(relay_main)
        self.count = len(self._slots)
        self._processes = [None] * self.count


    def _spawn(self, slot: int) -> None:
        process = self._ctx.Process(target=self._targets[slot],
                                    args=(self._slots[slot], os.getpid()),
                                    name=f"genmill-worker-{slot}-{self.labels[slot]}")
        process.start()
        self._processes[slot] = process

    def start(self) -> None:
        for slot in range(self.count):
            self._spawn(slot)
        self._thread.start()
        self.retention.start()
        self.webhooks.start()
        log.info("started %d worker process(es): %s", self.count, ", ".join(self.labels))

    def pids(self) -> list[int]:
        return [p.pid for p in self._processes if p is not None and p.pid]

    def _watch(self) -> None:
        # granian's HTTP worker is spawned, not forked (server.py), so nothing here has
        # to keep SQLite's in-process lock state consistent across a fork.
        while not self._stopping.wait(REAP_INTERVAL / 2):
            self._round()

    def _round(self) -> None:
        """Restart dead workers; then, unless waiting out an outage, end the leases of
        dead workers and reap expired ones."""
        try:
            self._restart_dead()
            if time.monotonic() < self._retry_at:
                return
            while self._gone:
                self.release_worker(self._gone[0])
                self._gone.pop(0)
            if time.monotonic() >= self._reap_after:
                self.reap_once()
            if self._backoff.failures:
                log.info("database back after %d failed tries", self._backoff.failures)
                self._backoff.reset()
                # Live workers retry their lease within MAX_DELAY of the database's
                # return: give them that long before reaping leases that ran out meanwhile.
                self._reap_after = (time.monotonic() + MAX_DELAY
                                    + self.settings.lease_seconds / 3)
        except StoreUnavailable as exc:
            if self._backoff.failures == 0:
                log.warning("database unavailable (%s); the supervisor keeps going", exc)
            self._retry_at = time.monotonic() + self._backoff.next_delay()
        except Exception:  # a bug must not stop the supervisor: restarts go on
            log.exception("supervisor round failed")
            self._retry_at = time.monotonic() + self._backoff.next_delay()

    def _restart_dead(self) -> None:
        died_at = self._died_at
        for slot, process in enumerate(self._processes):
            if process is None or process.is_alive() or self._stopping.is_set():
                continue
            if slot not in died_at:
                died_at[slot] = time.monotonic()
                self._gone.append(process.pid)  # re-queue its task now, not after its lease
            # Wait a moment so a worker that crashes at start does not spin.
            if time.monotonic() - died_at[slot] >= RESTART_DELAY:
                log.warning("worker pid %s exited with %s; restarting", process.pid,
                            process.exitcode)
                del died_at[slot]
                self._spawn(slot)

    def release_worker(self, pid: int) -> None:
        """A worker died without signing off: forget it and end its leases now."""
        host = socket.gethostname()
        self.store.worker_process_gone(host, pid)
        if self.store.expire_leases_of(host, pid):
            self.reap_once()

    def reap_once(self) -> None:
        for reaped in self.store.reap():
            if reaped.status == Status.FAILURE:
                self.storage.discard_staging(reaped.task_id)
            log.warning("task %s lease expired -> %s", reaped.task_id, reaped.status.value,
                        extra={"task_id": reaped.task_id})
        for task_id in expire_deadlines(self.db):  # a running one's worker cleans up
            log.info("task %s FAILURE (deadline exceeded)", task_id, extra={"task_id": task_id})
        # Workers silent for 5 minutes: looking every 30 s is as good as every round.
        if time.monotonic() >= self._forget_at:
            self.store.forget_workers(older_than_seconds=300)
            self._forget_at = time.monotonic() + FORGET_EVERY

    def stop(self) -> None:
        """Ask every worker to stop (each gives its running task back), then wait."""
        self._stopping.set()
        self.retention.stop()
        self.webhooks.stop()
        for process in self._processes:
            if process is not None and process.is_alive():
                process.terminate()  # SIGTERM: the worker releases its task and exits
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in self._processes:
            if process is not None:
                process.join(max(0.1, deadline - time.monotonic()))
                if process.is_alive():
                    log.warning("worker pid %s did not stop in time; killing", process.pid)
                    process.kill()
                    process.join(5)
        if self._thread.is_alive():
            self._thread.join(5)
        self.db.dispose()
