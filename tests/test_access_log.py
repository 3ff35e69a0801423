"""The access log's batched lines are the very lines logging's own formatters write for
the same request, in text and in JSON; every request gets one, and its metrics."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time

import pytest

from genmill import logs
from genmill.api.metrics import HttpCollector
from genmill.api.middleware import AccessLog


class Route:
    path = "/v1/video/generations/{task_id}"


ROUTE = Route()
ENTRIES = [
    # (perf_counter at the end, seconds, method, path, status, client, params, route)
    (time.perf_counter() - 0.3, 0.0012341, "GET", "/v1/video/generations/video_1", 200,
     ("10.0.0.7", 51234), {"task_id": "video_1"}, ROUTE),
    (time.perf_counter() - 0.2, 0.25, "POST", "/v1/images/generations/async", 401,
     None, None, None),
    (time.perf_counter() - 0.1, 2.71828, "GET", '/tasks/x/"é\\\n', 404,
     ("::1", 9), {"task_id": 'x"é'}, None),
    (time.perf_counter(), 1234.5678, "GET", "/v1/events", 200, ("1.2.3.4", 1), {}, None),
]


def expected(entry, to_wall: float, formatter: logging.Formatter) -> str:
    ended, seconds, method, path, status, client, params, _ = entry
    ms = seconds * 1000
    record = logging.LogRecord(logs.ACCESS_LOGGER, logging.INFO, __file__, 1,
                               "%s %s %d %.1fms", (method, path, status, ms), None)
    record.created = ended + to_wall
    record.msecs = int((record.created - int(record.created)) * 1000) + 0.0
    for key, value in (("method", method), ("path", path), ("status", status),
                       ("duration_ms", round(ms, 2)), ("client", client and client[0]),
                       ("task_id", (params or {}).get("task_id"))):
        setattr(record, key, value)
    return formatter.format(record) + "\n"


@pytest.mark.parametrize("as_json", [False, True])
def test_batched_lines_are_logging_s_own(as_json):
    formatter = logs.JsonFormatter() if as_json else logging.Formatter(logs._TEXT_FORMAT)
    to_wall = time.time() - time.perf_counter()
    written = (logs._json_lines if as_json else logs._text_lines)(ENTRIES, to_wall)
    assert written == "".join(expected(e, to_wall, formatter) for e in ENTRIES)


def test_every_request_gets_its_line_and_its_count(monkeypatch):
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    monkeypatch.setattr(logs, "_installed", None)
    logs.setup_logging(as_json=True)
    handler = logging.getLogger().handlers[0]
    handler.setStream(stream)
    metrics = HttpCollector()

    async def route(scope, receive, send):
        scope["route"] = ROUTE
        scope["path_params"] = {"task_id": scope["path"].rsplit("/", 1)[1]}
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def main():
        log = AccessLog(route, observe=metrics.observe)
        sent = []

        async def send(message):
            sent.append(message)

        for i in range(1500):  # one flush when 1,024 are pending, the rest on the timer
            await log({"type": "http", "method": "GET", "path": f"/v1/x/t{i}",
                       "client": ("127.0.0.1", 1), "headers": []}, None, send)
        assert len(sent) == 3000
        await asyncio.sleep(log.FLUSH_SECONDS * 3)

    try:
        asyncio.run(main())
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["task_id"] for line in lines] == [f"t{i}" for i in range(1500)]
    assert all(line["status"] == 200 and line["method"] == "GET" for line in lines)
    families = {f.name: f for f in metrics.collect()}
    [count] = families["genmill_http_requests"].samples
    assert count.labels == {"route": ROUTE.path, "method": "GET", "status": "200"}
    assert count.value == 1500
    buckets = [s for s in families["genmill_http_request_duration_seconds"].samples
               if s.name.endswith("_bucket")]
    assert buckets[-1].labels["le"] == "+Inf" and buckets[-1].value == 1500
