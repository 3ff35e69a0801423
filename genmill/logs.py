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


# One request, as the access log layer records it: (perf_counter at its end, seconds,
# method, path, status, client (host, port) or None, path params or None, route or None).
# Raw values only: everything a line shows is worked out when the batch is written.
AccessEntry = tuple[float, float, str, str, int, "tuple | None", "dict | None", object]


def write_access(entries: list[AccessEntry]) -> None:
    """Log one line per request, as `logging.getLogger("genmill.http").info` would, but
    in one write: a log record per request cost as much as a status poll itself."""
    log = logging.getLogger(ACCESS_LOGGER)
    if not entries or not log.isEnabledFor(logging.INFO):
        return
    to_wall = time.time() - time.perf_counter()  # entries carry perf_counter times
    installed = _installed
    if (installed is None or logging.getLogger().handlers != [installed[0]]
            or _has_own_handlers(log)):
        for _, seconds, method, path, status, client, params, _ in entries:
            # logging set up by someone else: a record per line
            ms = seconds * 1000
            log.info("%s %s %d %.1fms", method, path, status, ms,
                     extra={"method": method, "path": path, "status": status,
                            "duration_ms": round(ms, 2),
                            "client": client[0] if client else None,
                            "task_id": params.get("task_id") if params else None})
        return
    handler, as_json = installed
    text = (_json_lines if as_json else _text_lines)(entries, to_wall)
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


# Formatting numbers was most of a line's cost: the few values a line shows (milliseconds
# of the second, status, duration in tenths of a millisecond) are looked up as strings.
_MILLIS = [f"{i:03d}" for i in range(1000)]
_STATUS = {code: str(code) for code in range(100, 600)}
_TENTHS = [f"{i // 10}.{i % 10}" for i in range(10_000)]  # 0.0 to 999.9 ms


def _duration(seconds: float) -> str:
    """Milliseconds with one decimal, as "%.1f" writes them (ties may round up)."""
    tenths = int(seconds * 10_000 + 0.5)
    return _TENTHS[tenths] if 0 <= tenths < 10_000 else f"{seconds * 1000:.1f}"


def _text_lines(entries: list[AccessEntry], to_wall: float) -> str:
    """The lines logging.Formatter(_TEXT_FORMAT) would write, in one string."""
    lines = []
    add = lines.append
    last = stamp = None
    for ended, seconds, method, path, status, _, _, _ in entries:
        created = ended + to_wall
        second = int(created)
        if second != last:
            last = second
            stamp = time.strftime("%Y-%m-%d %H:%M:%S,", time.localtime(second))
        tenths = int(seconds * 10_000 + 0.5)  # _duration, inlined: a call costs as much
        add(f"{stamp}{_MILLIS[int((created - second) * 1000)]} INFO {ACCESS_LOGGER} "
            f"{method} {path} {_STATUS.get(status) or status} "
            f"{_TENTHS[tenths] if tenths < 10_000 else _duration(seconds)}ms\n")
    return "".join(lines)


_json_str = json.encoder.encode_basestring  # a JSON string, non-ASCII kept (as below)


def _json_lines(entries: list[AccessEntry], to_wall: float) -> str:
    """The lines JsonFormatter would write (json.dumps(..., ensure_ascii=False): same keys,
    order and separators), built from their parts rather than a dict per line."""
    lines = []
    add = lines.append
    for ended, seconds, method, path, status, client, params, _ in entries:
        ms = seconds * 1000
        task_id = params.get("task_id") if params else None
        head = (f'{{"time": "{_utc_stamp(ended + to_wall)}", "level": "info", '
                f'"logger": "{ACCESS_LOGGER}", "message": '
                f'{_json_str(f"{method} {path} {status} {_duration(seconds)}ms")}')
        if task_id is not None:
            head += f', "task_id": {_json_value(task_id)}'
        tail = f', "client": {_json_str(client[0])}}}\n' if client else "}\n"
        add(f'{head}, "method": {_json_str(method)}, "path": {_json_str(path)}, '
            f'"status": {status}, "duration_ms": {round(ms, 2)!r}{tail}')
    return "".join(lines)


def _json_value(value) -> str:
    return _json_str(value) if type(value) is str else json.dumps(value, ensure_ascii=False)
