"""Starts N worker processes, restarts any that die, reaps expired leases, stops them all.

One supervisor per `genmill serve` or `genmill worker`; several on many machines may share
one database (reaping is a single atomic UPDATE, safe to run from each).
"""

from __future__ import annotations

import logging
import multiprocessing
import socket
import threading
import time

from genmill.components import Components
from genmill.config import Settings
from genmill.domain import Status
from genmill.worker import pools
from genmill.worker.runner import worker_main

log = logging.getLogger("genmill.supervisor")

REAP_INTERVAL = 1.0
RESTART_DELAY = 1.0
STOP_TIMEOUT = 15.0


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
        # CPU workers, then one per GPU (worker/pools.py).
        gpus = pools.gpu_indexes(settings, parts.registry)
        self._slots, self.labels = pools.worker_settings(settings.model_copy(
            update={"workers": count}), gpus)
        self.count = len(self._slots)
        self._processes = [None] * self.count

    def _spawn(self, slot: int) -> None:
        process = self._ctx.Process(target=worker_main, args=(self._slots[slot],),
                                    name=f"genmill-worker-{slot}-{self.labels[slot]}")
        process.start()
        self._processes[slot] = process

    def start(self) -> None:
        for slot in range(self.count):
            self._spawn(slot)
        self._thread.start()
        log.info("started %d worker process(es): %s", self.count, ", ".join(self.labels))

    def pids(self) -> list[int]:
        return [p.pid for p in self._processes if p is not None and p.pid]

    def _watch(self) -> None:
        died_at: dict[int, float] = {}
        while not self._stopping.wait(REAP_INTERVAL / 2):
            for slot, process in enumerate(self._processes):
                if process is None or process.is_alive() or self._stopping.is_set():
                    continue
                # Wait a moment so a worker that crashes at start does not spin.
                died_at.setdefault(slot, time.monotonic())
                if time.monotonic() - died_at[slot] >= RESTART_DELAY:
                    log.warning("worker pid %s exited with %s; restarting", process.pid,
                                process.exitcode)
                    del died_at[slot]
                    self.store.worker_process_gone(socket.gethostname(), process.pid)
                    self._spawn(slot)
            try:
                self.reap_once()
            except Exception:  # a database hiccup must not stop the supervisor
                log.exception("reaping failed")

    def reap_once(self) -> None:
        for reaped in self.store.reap():
            if reaped.status == Status.FAILURE:
                self.storage.discard_staging(reaped.task_id)
            log.warning("task %s lease expired -> %s", reaped.task_id, reaped.status.value,
                        extra={"task_id": reaped.task_id})
        self.store.forget_workers(older_than_seconds=300)

    def stop(self) -> None:
        """Ask every worker to stop (each gives its running task back), then wait."""
        self._stopping.set()
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
