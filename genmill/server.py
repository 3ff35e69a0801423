"""Running the ASGI app: the fastest server installed (granian, else uvicorn).

Measured on a 2-core machine (DESIGN.md): granian serves status polls 2.5x and files
5-9x faster than uvicorn, so it is the default; the app itself stays plain ASGI.
"""

from __future__ import annotations

import errno
import importlib.util

from genmill.config import Settings
from genmill.startup.port import PortUnavailable, in_use_message

APP_FACTORY = "genmill.api.app:app_from_env"


def pick_server(preference: str) -> str:
    if preference != "auto":
        if importlib.util.find_spec(preference) is None:
            raise SystemExit(f"genmill: ASGI server {preference!r} is not installed")
        return preference
    for name in ("granian", "uvicorn"):
        if importlib.util.find_spec(name) is not None:
            return name
    raise SystemExit("genmill: no ASGI server installed (pip install granian)")


def run_http(settings: Settings, server: str, address: str) -> None:
    """Serve until SIGINT/SIGTERM on `address` (numeric: granian takes no host names).
    Settings reach the app through GENMILL_* variables."""
    if server == "granian":
        import multiprocessing

        from granian import Granian

        # Granian starts its worker with Python's default start method, fork on Linux.
        # This process already runs the supervisor's thread with SQLite connections: a
        # fork taken while that thread held a lock left SQLite's per-process lock table
        # in the child saying "held", so the API could never write again ("database is
        # locked" on every submit, seen under load). A spawned worker starts clean.
        multiprocessing.set_start_method("spawn", force=True)
        from granian.constants import Interfaces

        granian = Granian(
            APP_FACTORY,
            factory=True,
            address=address,
            port=settings.port,
            interface=Interfaces.ASGI,
            workers=1,
            # Requests in flight at once (granian's default is its backlog, 1024): an open
            # event stream is one for as long as it lasts.
            backpressure=settings.max_concurrent_requests,
            websockets=False,  # genmill has no websocket routes
            # On SIGTERM granian waits for every response in flight to end, and an event
            # stream never does: past this the HTTP process is killed (a bounded stop).
            workers_kill_timeout=settings.shutdown_seconds,
            log_access=False,  # genmill logs each request itself, in its own format
            log_enabled=True,
        )
        try:
            granian.serve()
        except RuntimeError as exc:
            # Another program took the port after our own check (startup/port.py):
            # granian's error carries a Rust backtrace; one line says it all.
            if f"os error {errno.EADDRINUSE})" in str(exc):
                raise PortUnavailable(in_use_message(settings.port)) from None
            raise
    else:
        import uvicorn

        uvicorn.run(APP_FACTORY, factory=True, host=address, port=settings.port,
                    access_log=False, log_config=None,
                    timeout_graceful_shutdown=max(1, round(settings.shutdown_seconds)))
