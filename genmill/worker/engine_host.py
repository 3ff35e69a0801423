"""The process that runs engines, one per worker, kept warm between tasks.

Engines run here rather than in the worker itself so that the worker can always stop
one: a cancel or time limit first asks politely (the shared event), then kills this
process and starts a fresh one. Loaded models stay in memory between tasks.
"""

from __future__ import annotations

import errno
import logging
import mimetypes
import multiprocessing
import os
import signal
import time
import traceback
from pathlib import Path
from typing import Any

from genmill.components import Components
from genmill.config import Settings
from genmill.engines import Canceled, Engine, InputError, InputFile, Inputs, RunContext
from genmill.lifetime import die_with_parent
from genmill.logs import setup_logging
from genmill.storage import Storage
from genmill.worker.fetch import fetch_image

log = logging.getLogger("genmill.engine")

_PROGRESS_INTERVAL = 0.05  # seconds between progress messages to the worker
NO_SPACE = "no space left on device: free disk space (delete old tasks), then submit again"


def resolve_inputs(job: dict[str, Any], storage: Storage, settings: Settings) -> Inputs:
    files: dict[str, list[InputFile]] = {}
    for record in job["inputs"]:
        if "stored" in record:
            item = InputFile(
                storage.read_input(job["task_id"], record["stored"]),
                record.get("content_type", ""),
                "data: URL",
            )
        elif "task_output" in record:
            source_id, name = record["task_output"]
            data = storage.read_output(source_id, name)
            if data is None:
                raise InputError(f"input {name} of task {source_id} no longer exists")
            content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
            item = InputFile(data, content_type, f"/tasks/{source_id}/{name}")
        else:
            item = fetch_image(
                record["url"],
                max_bytes=settings.fetch_max_bytes,
                timeout=settings.fetch_timeout,
                allow_private=settings.allow_private_fetch,
            )
        files.setdefault(record["field"], []).append(item)
    return Inputs(files)


def _send(conn, message: tuple) -> None:
    """Send to the worker; if it is gone (killed: the pipe is broken), stop at once.
    The kernel's death signal follows anyway, but only after the pipe breaks: without
    this, the run went on into the error path and printed a traceback per killed worker
    (seen in bench/chaos.py's logs)."""
    try:
        conn.send(message)
    except (BrokenPipeError, ConnectionResetError, EOFError):
        os._exit(0)


def engine_host_main(conn, cancel_event, settings: Settings) -> None:
    # If the worker is killed (even by SIGKILL), take this process with it.
    die_with_parent(signal.SIGKILL)
    # The worker decides when to stop: Ctrl-C in a terminal reaches the whole group.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    setup_logging(settings.log_json)  # engines log too (model loads, unloads)
    parts = Components(settings)
    registry, storage = parts.registry, parts.storage
    engines: dict[str, Engine] = {}

    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message[0] != "run":
            continue
        job = message[1]
        last_sent = [0.0, -1]

        def report(fraction: float, text: str, _last=last_sent) -> None:
            percent = int(fraction * 100)
            now = time.monotonic()
            if percent != _last[1] and now - _last[0] >= _PROGRESS_INTERVAL:
                _last[0], _last[1] = now, percent
                _send(conn, ("progress", fraction, text))

        try:
            spec = registry.resolve(job["model"])
            params = spec.params.model_validate(job["params"])
            inputs = resolve_inputs(job, storage, settings)
            if spec.id not in engines:
                engines[spec.id] = spec.factory()
            ctx = RunContext(
                task_id=job["task_id"],
                seed=job["params"].get("seed", 0),
                output_dir=Path(job["output_dir"]),
                report=report,
                is_canceled=cancel_event.is_set,
            )
            names = engines[spec.id].run(params, inputs, ctx)
            if cancel_event.is_set():
                raise Canceled()
            _send(conn, ("done", list(names)))
        except Canceled:
            _send(conn, ("canceled",))
        except InputError as exc:
            _send(conn, ("failed", str(exc)))
        except Exception as exc:  # an engine bug must not take the worker down
            if not Path(job["output_dir"]).is_dir():
                # The task was deleted under the engine (its staging dir went with it).
                _send(conn, ("canceled",))
                continue
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                _send(conn, ("failed", NO_SPACE))
                continue
            log.error("task %s: engine failed\n%s", job["task_id"], traceback.format_exc(),
                      extra={"task_id": job["task_id"]})
            first_line = (str(exc).strip().splitlines() or [""])[0][:300]
            reason = f"the model failed: {type(exc).__name__}"
            _send(conn, ("failed", f"{reason}: {first_line}" if first_line else reason))


class EngineHost:
    """The worker's handle on its engine process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._ctx = multiprocessing.get_context("spawn")
        self.process = None
        self.start()

    def start(self) -> None:
        self.conn, child_conn = self._ctx.Pipe()
        self.cancel_event = self._ctx.Event()
        self.process = self._ctx.Process(
            target=engine_host_main,
            args=(child_conn, self.cancel_event, self.settings),
            name="genmill-engine",
            daemon=True,
        )
        self.process.start()
        child_conn.close()

    def run(self, job: dict[str, Any]) -> None:
        if not self.alive():
            self.restart()
        self.cancel_event.clear()
        self.conn.send(("run", job))

    def poll(self, timeout: float):
        """The next message from the engine, or None."""
        if self.conn.poll(timeout):
            try:
                return self.conn.recv()
            except (EOFError, OSError):
                return None
        return None

    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    def kill(self) -> None:
        if self.process is not None and self.process.is_alive():
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.join(5)
        self.conn.close()
        self.process = None

    def restart(self) -> None:
        self.kill()
        self.start()
