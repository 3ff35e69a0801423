"""Child processes that never outlive their parent.

genmill runs a tree of processes: `genmill serve` (the supervisor), its worker
processes, each worker's engine host, and the ASGI server's worker. A child asks the
kernel for a signal when its parent dies (Linux `PR_SET_PDEATHSIG`, which works even when
the parent is killed with SIGKILL) and also checks its parent's pid now and then (on
systems without prctl, and for the moment between fork and prctl), so a crashed server
never leaves unmanaged workers polling the database.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import threading
import time

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Ask for `sig` when the parent process dies. False where the kernel cannot."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class ParentWatch:
    """Whether the process that started this one is gone (this one was re-parented)."""

    def __init__(self, parent_pid: int | None = None) -> None:
        self.parent_pid = parent_pid if parent_pid is not None else os.getppid()

    def parent_gone(self) -> bool:
        return os.getppid() != self.parent_pid


SERVE_PID_VARIABLE = "GENMILL_SERVE_PID"


def mark_server_process() -> None:
    """In `genmill serve`: let the ASGI server's worker processes know their parent."""
    os.environ[SERVE_PID_VARIABLE] = str(os.getpid())


def follow_server_process(grace: float) -> None:
    """In the ASGI app factory: if this is a worker process the ASGI server started
    (granian's), die with `genmill serve`. uvicorn runs the app in `genmill serve`
    itself, which must not be tied to its own parent (a shell).

    A graceful stop is for when `genmill serve` asks (it sends SIGTERM, then bounds the
    stop by killing its workers after `grace` seconds). When it dies instead (kill -9),
    the kernel kills this worker too, with SIGKILL: an orphan left to stop gracefully was
    seen serving its connections for a minute, and another stuck for an hour in granian's
    SIGTERM handler with the GIL held, where no Python thread of its own could end it
    (bench/load.py --chaos). Where the kernel cannot do this, a thread ends the orphan
    `grace` seconds after it notices."""
    raw = os.environ.get(SERVE_PID_VARIABLE, "")
    if not raw.isdigit() or int(raw) == os.getpid() or os.getppid() != int(raw):
        return
    die_with_parent(signal.SIGKILL)
    watch = ParentWatch(int(raw))
    threading.Thread(target=_exit_when_orphaned, args=(watch, grace), daemon=True,
                     name="genmill-orphan-watch").start()
    if watch.parent_gone():  # died before prctl took effect
        os.kill(os.getpid(), signal.SIGKILL)


def _exit_when_orphaned(watch: ParentWatch, grace: float, every: float = 1.0) -> None:
    while not watch.parent_gone():
        time.sleep(every)
    time.sleep(grace)
    os._exit(1)
