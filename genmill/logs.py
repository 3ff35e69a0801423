"""Logging to stderr: one line per request and per task transition, text or JSON."""

from __future__ import annotations

import json
import logging
import re
import sys
import time

# Every line that names a task (transitions, requests for its status or files) carries
# its id as a field, so one task's story is one filter away.
_TASK_ID = re.compile(r"\b(?:image|video|3d)_[0-9a-f]{32}\b")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("method", "path", "status", "duration_ms", "client"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        found = _TASK_ID.search(entry["message"])
        if found:
            entry["task_id"] = found.group(0)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(as_json: bool = False, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if as_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
