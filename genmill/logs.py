"""Logging to stderr: one line per request and per task transition, text or JSON.

Request lines (the access log) are many and alike, so they have a cheaper path:
`write_access` formats a batch of them and writes it to the handler in one call, in the
very format the handler would give each (`api/middleware.AccessLog` gathers them).
"""

from __future__ import annotations

import json
import logging
import sys
import time

# Fields a log call may pass with `extra=`. Every line about a task (transitions, requests
# for its status or files) passes `task_id`, so one task's story is one filter away.
_FIELDS = ("task_id", "method", "path", "status", "duration_ms", "client")


ACCESS_LOGGER = "genmill.http"


def _utc_stamp(created: float) -> str:
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
            + f".{int(created % 1 * 1000):03d}Z")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": _utc_stamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
_installed: tuple[logging.StreamHandler, bool] | None = None  # (handler, as_json)


def setup_logging(as_json: bool = False, level: int = logging.INFO) -> None:
    global _installed
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if as_json else logging.Formatter(_TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    _installed = (handler, as_json)


# One request: (time.time(), method, path, status, milliseconds, client address, task id).
AccessEntry = tuple[float, str, str, int, float, "str | None", "str | None"]


def write_access(entries: list[AccessEntry]) -> None:
    """Log one line per request, as `logging.getLogger("genmill.http").info` would, but
    in one write: a log record per request cost as much as a status poll itself."""
    log = logging.getLogger(ACCESS_LOGGER)
    if not entries or not log.isEnabledFor(logging.INFO):
        return
    installed = _installed
    if (installed is None or logging.getLogger().handlers != [installed[0]]
            or _has_own_handlers(log)):
        for entry in entries:  # logging set up by someone else: a record per line
            _, method, path, status, ms, client, task_id = entry
            log.info("%s %s %d %.1fms", method, path, status, ms,
                     extra={"method": method, "path": path, "status": status,
                            "duration_ms": round(ms, 2), "client": client,
                            "task_id": task_id})
        return
    handler, as_json = installed
    text = "".join(map(_json_line if as_json else _text_line, entries))
    handler.acquire()
    try:
        handler.stream.write(text)
        handler.flush()
    finally:
        handler.release()


def _has_own_handlers(log: logging.Logger) -> bool:
    while log is not None and log.name != "root":
        if log.handlers or not log.propagate:
            return True
        log = log.parent
    return False


_stamps: dict[int, str] = {}  # whole second -> local time, as logging.Formatter writes it


def _text_line(entry: AccessEntry) -> str:
    created, method, path, status, ms, _, _ = entry
    second = int(created)
    stamp = _stamps.get(second)
    if stamp is None:
        _stamps.clear()
        stamp = _stamps[second] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
    return (f"{stamp},{int(created % 1 * 1000):03d} INFO {ACCESS_LOGGER} "
            f"{method} {path} {status} {ms:.1f}ms\n")


def _json_line(entry: AccessEntry) -> str:
    created, method, path, status, ms, client, task_id = entry
    line = {"time": _utc_stamp(created), "level": "info", "logger": ACCESS_LOGGER,
            "message": f"{method} {path} {status} {ms:.1f}ms"}
    # The fields in JsonFormatter's order (_FIELDS), the unset ones left out.
    for key, value in (("task_id", task_id), ("method", method), ("path", path),
                       ("status", status), ("duration_ms", round(ms, 2)),
                       ("client", client)):
        if value is not None:
            line[key] = value
    return json.dumps(line, ensure_ascii=False) + "\n"
