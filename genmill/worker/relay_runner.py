"""The relay runner: one process, one asyncio loop, many relay tasks in flight.

A relay task waits on another server, so it must not hold a CPU or GPU worker. The
supervisor starts one relay runner when the registry has relay models (device "relay");
it claims only their tasks (the CPU workers never do, worker/pools.py) and keeps up to
`GENMILL_RELAY_CONCURRENCY` of them in flight as coroutines (worker/relay_task.py).

Its CPU per task is a budget (issue 13: at most 20 ms, `bench/relay.py`), so the
database work is batched: one statement claims a burst of tasks, one read a second finds
cancels and lost tasks, one UPDATE renews every lease a few times a lease, one
transaction a second writes the progress that changed, and a task costs two more writes
(its upstream id, its end). Database calls go to a small thread pool; an idle runner waits
for the wake-up a submit sends (store/connector.py) instead of claiming in a loop. On
shutdown its tasks go back to the queue, with their upstream ids kept (store/relays.py),
so the next claim resumes polling instead of submitting again.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import secrets
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from genmill.components import Components
from genmill.config import Settings
from genmill.domain import Status, Task
from genmill.engines.base import InputError
from genmill.engines.relays.errors import UpstreamError, UpstreamUnavailable
from genmill.engines.relays.http import UpstreamHTTP
from genmill.engines.relays.upstream import Relay
from genmill.lifetime import ParentWatch, die_with_parent
from genmill.logs import setup_logging
from genmill.store import relays as relay_jobs
from genmill.store.errors import StoreUnavailable
from genmill.store.tasks import LeaseState
from genmill.worker.engine_host import NO_SPACE, resolve_inputs
from genmill.worker.relay_task import (
    Download,
    RelayFailed,
    RelayUnavailable,
    follow,
    same_origin,
    with_retries,
)
from genmill.worker.retry import Backoff, persist

log = logging.getLogger("genmill.relay")

CHECK_INTERVAL = 1.0  # cancels and lost tasks, all held tasks in one read
HEARTBEAT = 5.0
FULL_WAIT = 0.1  # with every slot taken, how often to look for a free one
CLAIM_BATCH = 32  # tasks claimed in one statement, at most
IDLE_CLAIM = 0.5  # without a wake-up, the least time between two claims of an idle runner
WAKE_CHECK = 0.02  # how often an idle runner looks for a wake-up (SQLite's wake file)
SWEEP_INTERVAL = 60.0  # forgetting the upstream ids of ended tasks


class RelayRunner:
    def __init__(self, settings: Settings, parent: ParentWatch | None = None) -> None:
        self.settings = settings
        self.parent = parent
        parts = Components(settings, pool_size=4)
        self.db, self.store, self.storage = parts.database, parts.store, parts.storage
        self.relays: dict[str, Relay] = {spec.id: spec.relay for spec in parts.registry.models()
                                         if spec.device == "relay"}
        # host:pid: first, like a worker's id, so the supervisor can end its leases.
        self.id = f"{socket.gethostname()}:{os.getpid()}:relay-{secrets.token_hex(3)}"
        self.limit = settings.relay_concurrency
        self.stopping = False
        self.running: dict[str, asyncio.Task] = {}
        self.stop_reason: dict[str, str] = {}  # task id -> "canceled" | "lost" | "shutdown"
        self.upstream_of: dict[str, str] = {}
        self.progress: dict[str, int] = {}  # written in the next round of _keep_leases
        self.started_at = time.time()
        self.threads = ThreadPoolExecutor(8, thread_name_prefix="genmill-relay-db")
        # The idle wait blocks a thread of its own (LISTEN, or the wake file's stat).
        self.waiting = ThreadPoolExecutor(1, thread_name_prefix="genmill-relay-wait")
        self.http: UpstreamHTTP | None = None
        self.watchers: list[asyncio.Task] = []

    def stop(self, *_: Any) -> None:
        self.stopping = True

    def should_stop(self) -> bool:
        if not self.stopping and self.parent is not None and self.parent.parent_gone():
            log.warning("relay runner %s: its supervisor is gone; stopping", self.id)
            self.stopping = True
        return self.stopping

    async def _db(self, function, *args, **kwargs):
        """A database call on the thread pool, retried through an outage."""
        call = partial(function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(
            self.threads, partial(persist, call, getattr(function, "__name__", "write"),
                                  give_up=lambda: self.stopping))

    # -- the loop --------------------------------------------------------------------

    async def serve(self) -> None:
        self.http = UpstreamHTTP()
        models = list(self.relays)
        keeper = asyncio.create_task(self._keep_leases())
        # What upstreams push (ComfyUI's progress events), followed for the runner's life.
        self.watchers = [asyncio.create_task(relay.watch(self.http))
                         for relay in self.relays.values()]
        log.info("relay runner %s ready: %d model(s), up to %d tasks in flight", self.id,
                 len(models), self.limit)
        backoff = Backoff()
        loop = asyncio.get_running_loop()
        waiter = await loop.run_in_executor(
            self.waiting, partial(self.db.work_waiter, max(self.settings.poll_interval,
                                                           IDLE_CLAIM), wake_check=WAKE_CHECK))
        try:
            while not self.should_stop():
                free = min(self.limit - len(self.running), CLAIM_BATCH)
                if free <= 0:
                    await asyncio.sleep(FULL_WAIT)
                    continue
                try:
                    claimed = await loop.run_in_executor(self.threads, self._claim, models, free)
                except StoreUnavailable:
                    await asyncio.sleep(backoff.next_delay())
                    continue
                backoff.reset()
                for task, upstream_id in claimed:
                    self.running[task.id] = asyncio.create_task(self._run(task, upstream_id))
                if len(claimed) < free:  # the queue is empty: wait for news of work
                    await loop.run_in_executor(self.waiting, waiter.wait, IDLE_CLAIM)
        finally:
            waiter.close()
            await self._shut_down(keeper)

    def _claim(self, models: list[str], limit: int) -> list[tuple[Task, str | None]]:
        """A burst of tasks, each with the upstream task an earlier attempt left."""
        claimed = self.store.claim_many(self.id, self.settings.lease_seconds, models, limit)
        known = relay_jobs.upstream_ids(self.db, [task.id for task in claimed])
        return [(task, known.get(task.id)) for task in claimed]

    async def _shut_down(self, keeper: asyncio.Task) -> None:
        for task_id, coroutine in list(self.running.items()):
            self.stop_reason.setdefault(task_id, "shutdown")
            coroutine.cancel()
        if self.running:
            await asyncio.wait(list(self.running.values()), timeout=10)
        keeper.cancel()
        for watcher in self.watchers:
            watcher.cancel()
        if self.http is not None:
            await self.http.close()
        try:
            self.store.worker_gone(self.id)
        except StoreUnavailable:
            pass
        self.threads.shutdown(wait=False)
        self.waiting.shutdown(wait=False)
        log.info("relay runner %s stopped", self.id)

    async def _keep_leases(self) -> None:
        """Once a second: act on cancels and lost tasks, write the progress that changed,
        and renew every held lease when a quarter of the lease has passed."""
        last_seen = float("-inf")  # sign in at once: /readyz waits for it
        last_renewed = last_swept = time.monotonic()
        loop = asyncio.get_running_loop()
        while True:
            now = time.monotonic()
            try:
                if now - last_seen > HEARTBEAT:
                    await loop.run_in_executor(
                        self.threads, partial(self.store.worker_seen, self.id,
                                              socket.gethostname(), os.getpid(),
                                              self.started_at, device="relay"))
                    last_seen = now
                # Now, if waiting one more round would let a quarter of the lease pass.
                renew = now - last_renewed + CHECK_INTERVAL > self.settings.lease_seconds / 4
                progress, self.progress = self.progress, {}
                try:
                    states = await loop.run_in_executor(
                        self.threads, self._lease_round, list(self.running), progress, renew)
                except StoreUnavailable:
                    self.progress = {**progress, **self.progress}
                    raise
                if renew:
                    last_renewed = now
                if now - last_swept > SWEEP_INTERVAL:
                    await loop.run_in_executor(self.threads, relay_jobs.sweep, self.db)
                    last_swept = now
            except Exception as exc:  # the relays go on; the next round tries again
                if not isinstance(exc, StoreUnavailable):
                    log.exception("relay runner: renewing leases failed")
                await asyncio.sleep(CHECK_INTERVAL)
                continue
            for task_id, state in states.items():
                reason = None if state.held and not state.cancel_requested else (
                    "canceled" if state.held else "lost")
                coroutine = self.running.get(task_id)
                if reason and coroutine is not None and task_id not in self.stop_reason:
                    self.stop_reason[task_id] = reason
                    coroutine.cancel()
            await asyncio.sleep(CHECK_INTERVAL)

    def _lease_round(self, task_ids: list[str], progress: dict[str, int],
                     renew: bool) -> dict[str, LeaseState]:
        """One round of `_keep_leases` on a database thread: progress written, then each
        task's lease state (renewed, or read)."""
        self.store.set_progress_many(progress, self.id)
        if renew:
            return self.store.renew_many(task_ids, self.id, self.settings.lease_seconds)
        held = self.store.held(self.id)
        return {task_id: LeaseState(held=task_id in held, cancel_requested=held.get(task_id,
                                                                                  False))
                for task_id in task_ids}

    # -- one task --------------------------------------------------------------------

    async def _run(self, task: Task, upstream_id: str | None) -> None:
        relay = self.relays[task.model]
        try:
            try:
                async with asyncio.timeout(task.time_limit or None):
                    await self._relay(task, relay, upstream_id)
            except TimeoutError:
                await self._cancel_upstream(task, relay, f"timed out after {task.time_limit:g} s")
            except RelayUnavailable as exc:
                await self._retry_later(task, str(exc))
            except RelayFailed as exc:
                await self._fail(task, str(exc))
            except InputError as exc:
                await self._fail(task, str(exc))
            except UpstreamError as exc:  # e.g. the key's variable is not set
                await self._fail(task, relay.redact(f"{relay.upstream}: {exc}"))
            except asyncio.CancelledError:
                asyncio.current_task().uncancel()
                reason = self.stop_reason.get(task.id, "shutdown")
                if reason == "canceled":
                    await self._cancel_upstream(task, relay, "canceled")
                elif reason == "lost":  # deleted, reaped or past its deadline: not ours
                    self.storage.discard_staging(task.id)
                    log.info("task %s is no longer held by the relay runner; dropped", task.id,
                             extra={"task_id": task.id})
                else:
                    self.storage.discard_staging(task.id)
                    await self._db(self.store.release, task.id, self.id)
                    log.info("task %s QUEUED (relay runner stopping; upstream task kept)",
                             task.id, extra={"task_id": task.id})
        except Exception:  # a bug in one relay must not stop the others
            log.exception("task %s: relay failed", task.id, extra={"task_id": task.id})
            try:
                await self._fail(task, "internal error while relaying (see the server log)")
            except Exception:
                pass
        finally:
            self.running.pop(task.id, None)
            self.stop_reason.pop(task.id, None)
            self.upstream_of.pop(task.id, None)
            self.progress.pop(task.id, None)

    async def _relay(self, task: Task, relay: Relay, upstream_id: str | None) -> None:
        http = self.http
        assert http is not None
        if upstream_id is None:
            inputs = await self._db(resolve_inputs, {"task_id": task.id, "inputs": task.inputs},
                                    self.storage, self.settings) if task.inputs else None
            files = inputs.files if inputs is not None else {}
            upstream_id = await with_retries(
                relay, lambda: relay.submit(http, task.id, task.params, files), "submitting")
            await self._db(relay_jobs.record, self.db, task.id, upstream_id)
            log.info("task %s submitted to %s as %s", task.id, relay.upstream, upstream_id,
                     extra={"task_id": task.id})
        else:
            log.info("task %s resumes waiting on %s task %s", task.id, relay.upstream,
                     upstream_id, extra={"task_id": task.id})
        self.upstream_of[task.id] = upstream_id

        async def progress(percent: int) -> None:
            self.progress[task.id] = percent

        poll = await follow(task, relay, http, upstream_id, progress)
        await self._copy_outputs(task, relay, poll.outputs)

    async def _copy_outputs(self, task: Task, relay: Relay, urls: list[str]) -> None:
        if not urls:
            raise RelayFailed(f"{relay.upstream}: the task succeeded with no outputs")
        try:
            # A mkdir on the loop's thread: cheaper than a hop to the pool and back.
            staging = self.storage.new_staging(task.id)
        except OSError as exc:
            raise RelayFailed(NO_SPACE if exc.errno == errno.ENOSPC
                              else f"could not stage: {exc}") from None
        names: list[str] = []
        taken: set[str] = set()
        for index, url in enumerate(urls):
            headers = relay.headers() if same_origin(url, relay.base_url) else {}
            download = Download(self.http, relay, headers)
            try:
                names.append(await download(url, index, staging, taken))
            except OSError as exc:
                raise RelayFailed(NO_SPACE if exc.errno == errno.ENOSPC
                                  else f"could not store outputs: {exc}") from None
        committed = False

        def commit_and_finish() -> bool:
            """One hop to the pool: the files in place, then SUCCESS (retried whole
            through a database outage, so the files go in place once)."""
            nonlocal committed
            if not committed:
                try:
                    self.storage.commit(task.id, staging, names)
                except (OSError, ValueError) as exc:
                    raise RelayFailed(f"could not store outputs: {exc}") from None
                committed = True
            if self.store.finish(task.id, self.id, Status.SUCCESS, outputs=names):
                return True
            if self.store.get(task.id) is None:  # deleted meanwhile: its files go again
                self.storage.delete_task(task.id)
            return False

        if await self._db(commit_and_finish):
            log.info("task %s SUCCESS outputs=%d (relayed from %s)", task.id, len(names),
                     relay.upstream, extra={"task_id": task.id})

    async def _cancel_upstream(self, task: Task, relay: Relay, reason: str) -> None:
        """End the task with `reason`, stopping the upstream task where it can be."""
        upstream_id = self.upstream_of.get(task.id)
        if upstream_id is not None:
            try:
                stopped = relay.can_cancel and await asyncio.wait_for(
                    relay.cancel(self.http, upstream_id), 10)
            except (UpstreamUnavailable, UpstreamError, TimeoutError):
                stopped = False
            if not stopped:
                reason += (f"; {relay.upstream} could not cancel its task {upstream_id}: "
                           "genmill stopped polling it, and it may still run there")
        await self._fail(task, reason)

    async def _retry_later(self, task: Task, reason: str) -> None:
        """An upstream down for longer than the entry's retries (killed and restarting,
        say) costs an attempt, not the task: an outage of ~20 s failed every relayed task
        in flight (found by bench/chaos.py --relay). The upstream id stays recorded, so
        the next attempt resumes that upstream task instead of submitting another."""
        self.storage.discard_staging(task.id)
        status = await self._db(self.store.retry_or_fail, task.id, self.id, reason)
        if status is not None:
            log.warning("task %s: %s -> %s", task.id, reason, status.value,
                        extra={"task_id": task.id})

    async def _fail(self, task: Task, reason: str) -> None:
        self.storage.discard_staging(task.id)
        if await self._db(self.store.finish, task.id, self.id, Status.FAILURE,
                          fail_reason=reason):
            log.info("task %s FAILURE reason=%r", task.id, reason, extra={"task_id": task.id})


def relay_main(settings: Settings, parent_pid: int | None = None) -> None:
    """Entry point of the relay runner process (started by the supervisor)."""
    die_with_parent(signal.SIGTERM)
    setup_logging(settings.log_json)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # input fetches: a line each otherwise
    runner = RelayRunner(settings, ParentWatch(parent_pid))
    signal.signal(signal.SIGTERM, runner.stop)
    signal.signal(signal.SIGINT, runner.stop)
    asyncio.run(runner.serve())
