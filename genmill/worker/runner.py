"""One worker process: claim a task, run it in the engine host, record how it ended.

While a task runs the worker relays progress (at most 2 store writes a second, never
backwards, 100 only on success), renews its lease, and watches for a cancel, the time
limit and its own shutdown. On shutdown the running task goes back to the queue.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import time
from typing import Any

from genmill.components import Components
from genmill.config import Settings
from genmill.domain import Status, Task
from genmill.logs import setup_logging
from genmill.worker import pools
from genmill.worker.engine_host import EngineHost

log = logging.getLogger("genmill.worker")

PROGRESS_WRITE_INTERVAL = 0.5  # ≤ 2 progress writes a second per task
CANCEL_CHECK_INTERVAL = 0.5
GRACE_SECONDS = 1.0  # how long a canceled engine may take to stop by itself
WORKER_HEARTBEAT = 5.0


class Runner:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        parts = Components(settings, pool_size=2)
        self.db, self.store, self.storage = parts.database, parts.store, parts.storage
        self.models = pools.claimable_models(settings, parts.registry)  # None: any model
        pools.pin_to_gpu(settings)
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.started_at = time.time()
        self.stopping = False
        self.host = EngineHost(settings)
        self._last_seen = 0.0

    def stop(self, *_: Any) -> None:
        self.stopping = True

    def heartbeat(self) -> None:
        """Tell the store this worker is alive (what /readyz counts), every few seconds."""
        if time.monotonic() - self._last_seen > WORKER_HEARTBEAT:
            self.store.worker_seen(self.id, socket.gethostname(), os.getpid(), self.started_at)
            self._last_seen = time.monotonic()

    def serve(self) -> None:
        waiter = self.db.work_waiter(self.settings.poll_interval)
        log.info("worker %s ready", self.id)
        try:
            while not self.stopping:
                self.heartbeat()
                task = self.store.claim(self.id, self.settings.lease_seconds, self.models)
                if task is None:
                    waiter.wait(1.0)
                    continue
                self.execute(task)
        finally:
            waiter.close()
            self.host.kill()
            self.store.worker_gone(self.id)
            log.info("worker %s stopped", self.id)

    def execute(self, task: Task) -> None:
        log.info("task %s IN_PROGRESS attempt=%d worker=%s", task.id, task.attempts, self.id,
                 extra={"task_id": task.id})
        staging = self.storage.new_staging(task.id)
        self.host.run({
            "task_id": task.id,
            "model": task.model,
            "params": task.params,
            "inputs": task.inputs,
            "output_dir": str(staging),
        })
        started = time.monotonic()
        lease_every = self.settings.lease_seconds / 3
        last_lease = last_cancel_check = started
        last_write, written, pending = 0.0, task.progress, None

        while True:
            message = self.host.poll(0.05)
            now = time.monotonic()
            if message is not None and message[0] == "progress":
                percent = min(99, int(message[1] * 100))
                if percent > written:
                    pending = (percent, message[2])
            elif message is not None:
                self._conclude(task, staging, message)
                return
            elif not self.host.alive():
                code = self.host.process.exitcode
                self._end(task, Status.FAILURE,
                          reason=f"the model's process died (exit code {code})")
                self.host.restart()
                return

            if pending and now - last_write >= PROGRESS_WRITE_INTERVAL:
                self.store.set_progress(task.id, self.id, pending[0], pending[1])
                written, pending, last_write = pending[0], None, now

            if self.stopping:
                self.host.kill()
                self.storage.discard_staging(task.id)
                self.store.release(task.id, self.id)
                log.info("task %s QUEUED (worker %s shutting down)", task.id, self.id,
                         extra={"task_id": task.id})
                return

            self.heartbeat()
            reason = None
            if now - last_lease >= lease_every:
                state = self.store.renew(task.id, self.id, self.settings.lease_seconds)
                last_lease = last_cancel_check = now
                if not state.held:
                    reason = "lost"
                elif state.cancel_requested:
                    reason = "canceled"
            elif now - last_cancel_check >= CANCEL_CHECK_INTERVAL:
                last_cancel_check = now
                if self.store.cancel_requested(task.id):
                    reason = "canceled"
            if reason is None and task.time_limit and now - started > task.time_limit:
                reason = f"timed out after {task.time_limit:g} s"
            if reason is not None:
                self._interrupt(task, reason)
                return

    def _interrupt(self, task: Task, reason: str) -> None:
        """Ask the engine to stop, give it a moment, then kill its process."""
        self.host.cancel_event.set()
        deadline = time.monotonic() + GRACE_SECONDS
        while time.monotonic() < deadline:
            message = self.host.poll(0.05)
            if message is not None and message[0] != "progress":
                break
        else:
            self.host.restart()
        if reason == "lost":  # deleted, or reaped after a stall: not ours to finish
            self.storage.discard_staging(task.id)
            log.info("task %s is no longer held by %s; dropped", task.id, self.id,
                     extra={"task_id": task.id})
            return
        self._end(task, Status.FAILURE, reason=reason)

    def _conclude(self, task: Task, staging, message: tuple) -> None:
        kind = message[0]
        if kind == "done":
            try:
                self.storage.commit(task.id, staging, message[1])
            except (OSError, ValueError) as exc:
                log.error("task %s: could not store outputs: %s", task.id, exc,
                          extra={"task_id": task.id})
                self._end(task, Status.FAILURE, reason=f"could not store outputs: {exc}")
                return
            if not self.store.finish(task.id, self.id, Status.SUCCESS, outputs=message[1]):
                # Deleted or canceled while the outputs were being moved: remove them.
                if self.store.get(task.id) is None:
                    self.storage.delete_task(task.id)
                log.info("task %s finished but is no longer held; outputs dropped", task.id,
                         extra={"task_id": task.id})
                return
            log.info("task %s SUCCESS outputs=%d", task.id, len(message[1]),
                     extra={"task_id": task.id})
        elif kind == "canceled":
            self._end(task, Status.FAILURE, reason="canceled")
        else:
            self._end(task, Status.FAILURE, reason=message[1])

    def _end(self, task: Task, status: Status, reason: str) -> None:
        self.storage.discard_staging(task.id)
        if self.store.finish(task.id, self.id, status, fail_reason=reason):
            log.info("task %s %s reason=%r", task.id, status.value, reason,
                     extra={"task_id": task.id})


def worker_main(settings: Settings) -> None:
    """Entry point of a worker process (started by the supervisor)."""
    setup_logging(settings.log_json)
    runner = Runner(settings)
    signal.signal(signal.SIGTERM, runner.stop)
    signal.signal(signal.SIGINT, runner.stop)
    runner.serve()
