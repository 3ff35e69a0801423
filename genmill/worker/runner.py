"""One worker process: claim a task, run it in the engine host, record how it ended.

While a task runs the worker relays progress (at most 2 store writes a second, the first
half a second after the start, never backwards, 100 only on success), renews its lease,
and watches for a cancel, the time limit and its own shutdown. On shutdown the running
task goes back to the queue. A run that meets a full disk goes back to the queue too (an
attempt), and the worker waits for room before it claims again.

A database outage costs a wait, not the process or the render: the run goes on while
progress and lease writes are retried with backoff, and the task's end is written once
the database is back. The worker also stops when its parent (the supervisor) dies.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import signal
import socket
import threading
import time
from typing import Any

from genmill.components import Components
from genmill.config import Settings
from genmill.domain import Status, Task
from genmill.lifetime import ParentWatch, die_with_parent
from genmill.logs import setup_logging
from genmill.store.errors import StoreUnavailable
from genmill.worker import pools
from genmill.worker.affinity import Residency
from genmill.worker.disk_room import has_room
from genmill.worker.engine_host import NO_SPACE, EngineHost
from genmill.worker.retry import Backoff, GaveUp, persist

log = logging.getLogger("genmill.worker")

PROGRESS_WRITE_INTERVAL = 0.5  # ≤ 2 progress writes a second per task, none in the first
CANCEL_CHECK_INTERVAL = 0.5
GRACE_SECONDS = 1.0  # how long a canceled engine may take to stop by itself
WORKER_HEARTBEAT = 5.0
SHUTDOWN_WRITE_PATIENCE = 10.0  # a stopping worker's last writes; the lease covers the rest


class Runner:
    def __init__(self, settings: Settings, parent: ParentWatch | None = None) -> None:
        self.settings = settings
        self.parent = parent
        parts = Components(settings, pool_size=2)
        self.db, self.store, self.storage = parts.database, parts.store, parts.storage
        self.models = pools.claimable_models(settings, parts.registry)  # None: any model
        self.device = pools.device_label(settings)
        self.residency = Residency(parts.registry, settings.model_idle_unload, self.models)
        pools.pin_to_gpu(settings)
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.started_at = time.time()
        self.stopping = False
        self.host = EngineHost(settings)
        self._last_seen = 0.0
        self._stop_asked_at: float | None = None
        self._disk_full = False  # a run met a full disk: wait for room before claiming

    def stop(self, *_: Any) -> None:
        self.stopping = True

    def should_stop(self) -> bool:
        if not self.stopping and self.parent is not None and self.parent.parent_gone():
            log.warning("worker %s: its supervisor is gone; stopping", self.id)
            self.stopping = True
        return self.stopping

    def _give_up_writing(self) -> bool:
        """While stopping, last writes are tried for a while; a lease left behind expires
        and the reaper re-queues its task."""
        if not self.should_stop():
            return False
        if self._stop_asked_at is None:
            self._stop_asked_at = time.monotonic()
        return time.monotonic() - self._stop_asked_at > SHUTDOWN_WRITE_PATIENCE

    def _persist(self, action, what: str):
        return persist(action, what, give_up=self._give_up_writing)

    def heartbeat(self) -> None:
        """Tell the store this worker is alive (what /readyz counts), every few seconds."""
        if time.monotonic() - self._last_seen > WORKER_HEARTBEAT:
            self.store.worker_seen(self.id, socket.gethostname(), os.getpid(), self.started_at,
                                   self.device, self.residency.loaded_models(self._host_pid()))
            self._last_seen = time.monotonic()

    def _host_pid(self) -> int | None:
        return self.host.process.pid if self.host.alive() else None

    def _claim(self) -> Task | None:
        loaded = self.residency.loaded_models(self._host_pid())
        task = self.store.claim(self.id, self.settings.lease_seconds, self.models,
                                prefer=loaded, fair_after=self.settings.affinity_max_wait)
        if task is not None and loaded and task.model not in loaded:
            self._last_seen = 0.0  # another load coming: say so at the next heartbeat
        return task

    def serve(self) -> None:
        waiter = self.db.work_waiter(self.settings.poll_interval)
        log.info("worker %s ready", self.id)
        backoff = Backoff()
        try:
            while not self.should_stop():
                if self._disk_full and not self._room_again():
                    with contextlib.suppress(StoreUnavailable):
                        self.heartbeat()  # alive, only waiting
                    time.sleep(1.0)
                    continue
                try:
                    self.heartbeat()
                    task = self._claim()
                except StoreUnavailable as exc:
                    if backoff.failures == 0:
                        log.warning("worker %s: database unavailable (%s); retrying",
                                    self.id, exc)
                    time.sleep(backoff.next_delay())
                    continue
                if backoff.failures:
                    log.info("worker %s: database back after %d retries", self.id,
                             backoff.failures)
                    backoff.reset()
                if task is None:
                    waiter.wait(1.0)
                    continue
                try:
                    self.execute(task)
                    self.residency.done(task.model, self._host_pid())
                except GaveUp as exc:
                    log.warning("task %s: could not record %s before stopping; its lease "
                                "will expire and it will be re-queued", task.id, exc,
                                extra={"task_id": task.id})
        finally:
            waiter.close()
            self.host.kill()
            try:
                self.store.worker_gone(self.id)
            except StoreUnavailable:
                pass  # the supervisor forgets silent workers
            log.info("worker %s stopped", self.id)

    def execute(self, task: Task) -> None:
        log.info("task %s IN_PROGRESS attempt=%d worker=%s", task.id, task.attempts, self.id,
                 extra={"task_id": task.id})
        try:
            staging = self.storage.new_staging(task.id)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                self._no_space(task)
            else:
                self._end(task, Status.FAILURE, reason=f"could not stage: {exc}")
            return
        self.host.run({
            "task_id": task.id,
            "model": task.model,
            "params": task.params,
            "inputs": task.inputs,
            "output_dir": str(staging),
        })
        self.residency.ran(task.model, self._host_pid())
        started = time.monotonic()
        lease_every = self.settings.lease_seconds / 3
        last_lease = last_cancel_check = started
        # The first progress write waits half a second too: a run shorter than that
        # (bench/load.py's are 10 ms) ends with no progress write, one database round
        # trip a task less, and its status goes from 0 to 100 as it would anyway.
        last_write, written, pending = started, task.progress, None
        backoff = Backoff()
        retry_at = 0.0  # while the database is unavailable: when to write again

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
                self._engine_died(task)
                return

            if self.should_stop():
                self.host.kill()
                self.storage.discard_staging(task.id)
                self._persist(lambda: self.store.release(task.id, self.id), "release")
                log.info("task %s QUEUED (worker %s shutting down)", task.id, self.id,
                         extra={"task_id": task.id})
                return

            reason = None
            if now >= retry_at:
                try:
                    if pending and now - last_write >= PROGRESS_WRITE_INTERVAL:
                        self.store.set_progress(task.id, self.id, pending[0], pending[1])
                        written, pending, last_write = pending[0], None, now
                    self.heartbeat()
                    if now - last_lease >= lease_every:
                        state = self.store.renew(task.id, self.id,
                                                 self.settings.lease_seconds)
                        last_lease = last_cancel_check = now
                        if not state.held:
                            reason = "lost"
                        elif state.cancel_requested:
                            reason = "canceled"
                    elif now - last_cancel_check >= CANCEL_CHECK_INTERVAL:
                        last_cancel_check = now
                        if self.store.cancel_requested(task.id):
                            reason = "canceled"
                    if backoff.failures:
                        log.info("task %s: database back; the run went on", task.id,
                                 extra={"task_id": task.id})
                        backoff.reset()
                except StoreUnavailable as exc:
                    # The render goes on; progress, lease and cancel checks wait.
                    if backoff.failures == 0:
                        log.warning("task %s: database unavailable (%s); the run goes on",
                                    task.id, exc, extra={"task_id": task.id})
                    retry_at = now + backoff.next_delay()
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

    def _engine_died(self, task: Task) -> None:
        """The engine's process died mid-run (killed, out of memory): like a lost worker,
        the attempt counts and the task runs again while attempts remain."""
        code = self.host.process.exitcode
        self.host.restart()
        self.storage.discard_staging(task.id)
        reason = f"the model's process died (exit code {code})"
        status = self._persist(lambda: self.store.retry_or_fail(task.id, self.id, reason),
                               "re-queueing after the model's process died")
        if status is not None:
            log.warning("task %s: %s -> %s", task.id, reason, status.value,
                        extra={"task_id": task.id})

    def _conclude(self, task: Task, staging, message: tuple) -> None:
        kind = message[0]
        if kind == "done":
            try:
                # attempts == 1: claimed once (a release gives its attempt back, and a
                # released run stored nothing), so no earlier run stored outputs.
                self._holding_lease(task, lambda: self.storage.commit(
                    task.id, staging, message[1], first_attempt=task.attempts <= 1))
            except (OSError, ValueError) as exc:
                log.error("task %s: could not store outputs: %s", task.id, exc,
                          extra={"task_id": task.id})
                if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                    self._no_space(task)
                else:
                    self._end(task, Status.FAILURE, reason=f"could not store outputs: {exc}")
                return
            finished = self._persist(
                lambda: self.store.finish(task.id, self.id, Status.SUCCESS,
                                          outputs=message[1]), "recording SUCCESS")
            if not finished:
                # Deleted or canceled while the outputs were being moved: remove them.
                if self._persist(lambda: self.store.get(task.id), "reading back") is None:
                    self.storage.delete_task(task.id)
                log.info("task %s finished but is no longer held; outputs dropped", task.id,
                         extra={"task_id": task.id})
                return
            log.info("task %s SUCCESS outputs=%d", task.id, len(message[1]),
                     extra={"task_id": task.id})
        elif kind == "canceled":
            self._end(task, Status.FAILURE, reason="canceled")
        elif message[1] == NO_SPACE:  # the engine's writes met a full disk
            self._no_space(task)
        else:
            self._end(task, Status.FAILURE, reason=message[1])

    def _holding_lease(self, task: Task, work):
        """Run `work` in a thread while this one keeps renewing the task's lease.

        A commit to S3 can take long (a big video) or hang (the S3 server stalled): the
        lease used to run out meanwhile, the reaper re-queued the task and another
        worker ran it again while this one was still uploading the first run's outputs
        (found by bench/chaos.py stopping S3 for 20 s)."""
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                outcome["value"] = work()
            except BaseException as exc:  # re-raised in this thread below
                outcome["error"] = exc

        thread = threading.Thread(target=target, name="genmill-commit", daemon=True)
        thread.start()
        lease_every = self.settings.lease_seconds / 3
        while not self._join(thread, lease_every):
            try:
                self.store.renew(task.id, self.id, self.settings.lease_seconds)
            except StoreUnavailable:
                pass  # the supervisor does not reap through an outage; the next try may
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("value")

    @staticmethod
    def _join(thread: threading.Thread, seconds: float) -> bool:
        thread.join(seconds)
        return not thread.is_alive()

    def _no_space(self, task: Task) -> None:
        """The run met a full disk: back to the queue (the attempt counts, so a task whose
        outputs never fit ends FAILURE with NO_SPACE once its attempts run out), and no
        more claims until the disk has room."""
        self.storage.discard_staging(task.id)
        self._disk_full = True
        status = self._persist(lambda: self.store.retry_or_fail(task.id, self.id, NO_SPACE),
                               "re-queueing after a full disk")
        if status is not None:
            log.warning("task %s: no space left on device -> %s; waiting for room before "
                        "claiming again", task.id, status.value, extra={"task_id": task.id})

    def _room_again(self) -> bool:
        if has_room(self.settings.data_dir):
            log.info("worker %s: the disk has room again; claiming", self.id)
            self._disk_full = False
        return not self._disk_full

    def _end(self, task: Task, status: Status, reason: str) -> None:
        self.storage.discard_staging(task.id)
        if self._persist(lambda: self.store.finish(task.id, self.id, status,
                                                   fail_reason=reason),
                         f"recording {status.value}"):
            log.info("task %s %s reason=%r", task.id, status.value, reason,
                     extra={"task_id": task.id})


def worker_main(settings: Settings, parent_pid: int | None = None) -> None:
    """Entry point of a worker process (started by the supervisor, `parent_pid`)."""
    # SIGTERM when the supervisor dies, even by SIGKILL: give the task back and stop.
    die_with_parent(signal.SIGTERM)
    setup_logging(settings.log_json)
    runner = Runner(settings, ParentWatch(parent_pid))
    signal.signal(signal.SIGTERM, runner.stop)
    signal.signal(signal.SIGINT, runner.stop)
    runner.serve()
