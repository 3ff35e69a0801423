"""The first lines `genmill serve` prints: where it listens, where the data lives, where
the docs are, and whether a key is needed. Secrets (keys, a database password) never
appear."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from genmill import __version__
from genmill.config import Settings
from genmill.startup.port import Listener


def banner_lines(settings: Settings, listener: Listener, server: str) -> list[str]:
    workers = f"{settings.workers} worker{'s' if settings.workers != 1 else ''}"
    where = listener.url
    if listener.all_interfaces:
        where += f" (all interfaces, port {listener.port})"
    return [
        f"genmill {__version__} listening on {where} ({server}, {workers})",
        f"  data: {_data(settings)}",
        f"  docs: {listener.url}/docs",
        f"  keys: {_keys(settings)}",
    ]


def _data(settings: Settings) -> str:
    files = settings.data_dir.resolve()
    if not settings.database_url:
        return f"{files} (SQLite database genmill.db and task files)"
    database = make_url(settings.database_url).render_as_string(hide_password=True)
    return f"task files in {files}; database {database}"


def _keys(settings: Settings) -> str:
    count = len(settings.api_keys)
    if not count:
        return "none required (no GENMILL_API_KEYS; open to this machine only)"
    names = ", ".join(sorted(settings.api_keys))
    return (f"required ({count}: {names}); send Authorization: Bearer <key> "
            "or X-API-Key: <key>")
