"""genmill.client against a live server, and against small HTTP servers that misbehave on
purpose (cut connections, 429s, ignored Range) to prove downloads resume and polls survive.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import random
import re
import socket
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from genmill.client import (
    AsyncClient,
    AuthError,
    BadRequest,
    Client,
    DownloadError,
    Kind,
    NotFound,
    ServerError,
    ServerUnreachable,
    Status,
    TaskFailed,
    WaitTimeout,
)
from genmill.client.inputs import image_value
from genmill.client.polling import PollSchedule
from tests.conftest import KEYS, free_port

FAST = 0.05  # poll interval for tests: the reference's 3-10 s would make them crawl


def sha256(path: Path | bytes) -> str:
    data = path if isinstance(path, bytes) else path.read_bytes()
    return hashlib.sha256(data).hexdigest()


def png_bytes(color=(10, 200, 90)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), color).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def gm(server):
    with Client(server.url, KEYS["alice"], poll_interval=FAST) as client:
        yield client


# -- a live genmill server --------------------------------------------------------------


def test_run_gives_a_typed_task_and_downloads_it(gm, tmp_path):
    seen: list[int] = []
    task = gm.run("image", "test/steps-t2i", prompt="a fox", steps=4, step_ms=60, n=2,
                  on_update=lambda t: seen.append(t.progress))
    assert task.status is Status.SUCCESS and task.succeeded and task.done
    assert task.kind is Kind.IMAGE and task.progress == 100 and not task.fail_reason
    assert seen == sorted(seen) and seen[-1] == 100 and all(isinstance(p, int) for p in seen)
    assert all(isinstance(t, datetime) and t.tzinfo is UTC
               for t in (task.submit_time, task.start_time, task.finish_time))
    assert task.submit_time <= task.start_time <= task.finish_time
    paths = gm.download(task, tmp_path / "out")
    assert [p.name for p in paths] == ["image-1.png", "image-2.png"]
    for path in paths:
        assert Image.open(path).size == (32, 32)
    assert not list((tmp_path / "out").glob("*.part"))


def test_local_file_and_bytes_travel_as_data_urls(gm, tmp_path):
    source = png_bytes()
    path = tmp_path / "in.png"
    path.write_bytes(source)
    assert image_value(path).startswith("data:image/png;base64,")
    assert image_value(source[:3] + b"x").startswith("data:application/octet-stream;")
    assert image_value("https://example.com/a.png") == "https://example.com/a.png"
    for image in (str(path), source):
        task = gm.run("image", "test/echo-i2i", image=image)
        assert task.succeeded, task.fail_reason
        echoed = Image.open(gm.download(task, tmp_path / task.id)[0]).convert("RGB")
        assert echoed.tobytes() == Image.open(io.BytesIO(source)).convert("RGB").tobytes()
    with pytest.raises(FileNotFoundError, match="no such file"):
        gm.submit("image", "test/echo-i2i", image=tmp_path / "missing.png")


def test_failure_is_a_final_task_and_raise_for_failure_raises(gm):
    task = gm.run("3d", "test/steps-text-to-3d", prompt="x", fail="out of clay")
    assert task.failed and task.status is Status.FAILURE and task.kind is Kind.MESH
    assert "out of clay" in task.fail_reason and task.outputs == []
    with pytest.raises(TaskFailed, match="out of clay") as caught:
        task.raise_for_failure()
    assert caught.value.task is task


def test_typed_errors_carry_status_and_message(gm, server):
    with pytest.raises(BadRequest) as caught:
        gm.submit("video", "test/steps-t2v", prompt="x", steps="many")
    assert caught.value.status == 400 and "steps" in caught.value.message
    with pytest.raises(BadRequest, match="model"):
        gm.submit("image", "test/steps-t2v", prompt="x")  # a video model on the image route
    with pytest.raises(NotFound) as missing:
        gm.get("image_" + "0" * 32)
    assert missing.value.status == 404
    with Client(server.url, "not-a-key") as stranger, pytest.raises(AuthError) as refused:
        stranger.models()
    assert refused.value.status == 401 and "API key" in refused.value.message
    with Client(f"http://127.0.0.1:{free_port()}") as nobody, pytest.raises(ServerUnreachable):
        nobody.models()


def test_wait_timeout_cancel_list_and_delete(gm, server):
    task_id = gm.submit("video", "test/steps-t2v", prompt="slow", steps=200, step_ms=50)
    with pytest.raises(WaitTimeout) as caught:
        gm.wait(task_id, timeout=0.3)
    assert caught.value.task is not None and caught.value.task.id == task_id
    canceled = gm.cancel(task_id)
    assert gm.wait(canceled.id).fail_reason
    page = gm.list(page_size=100, state="failed", kind="video")
    assert task_id in [t.id for t in page.tasks]
    assert all(t.failed and t.kind is Kind.VIDEO for t in page.tasks)
    detail = gm.get(task_id, detail=True)
    assert detail.model == "test/steps-t2v" and detail.failed
    gm.delete(task_id)
    with pytest.raises(NotFound):
        gm.get(task_id)
    with Client(server.url, KEYS["bob"]) as bob, pytest.raises(NotFound):
        bob.delete(gm.submit("image", "test/steps-t2i", prompt="alice's"))


def test_events_follow_a_task_and_resume_after_an_id(gm):
    task_id = gm.submit("image", "test/steps-t2i", prompt="watched", steps=6, step_ms=100)
    events = list(gm.events(task_id))
    ids = [int(e.id) for e in events]
    assert ids == sorted(set(ids)) and len(events) >= 3
    assert [e.task.progress for e in events] == sorted(e.task.progress for e in events)
    assert events[-1].task.status is Status.SUCCESS and events[-1].task.outputs
    assert all(e.queue_position is None for e in events if e.task.status != Status.QUEUED)
    assert list(gm.events(task_id, last_event_id=events[1].id)) == events[2:]
    seen: list = []
    final = gm.wait(task_id, on_update=seen.append)
    assert final == events[-1].task and seen == [final]  # from its stream: the final event


def test_async_events_and_wait(server):
    async def follow():
        async with AsyncClient(server.url, KEYS["alice"]) as client:
            task_id = await client.submit("image", "test/steps-t2i", prompt="a", steps=3,
                                          step_ms=50)
            events = [event async for event in client.events(task_id)]
            return events, await client.wait(task_id)

    events, final = asyncio.run(follow())
    assert events[-1].task == final and final.status is Status.SUCCESS
    assert [int(e.id) for e in events] == sorted(int(e.id) for e in events)


def test_models_are_typed(gm):
    models = {m.id: m for m in gm.models()}
    t2v = models["test/steps-t2v"]
    assert t2v.kind is Kind.VIDEO and t2v.mode == "text-to-video"
    assert {"steps", "step_ms", "duration"} <= set(t2v.param_names())


def test_async_client_runs_downloads_and_raises_typed_errors(server, tmp_path):
    async def main():
        async with AsyncClient(server.url, KEYS["alice"], poll_interval=FAST) as client:
            task = await client.run("3d", "test/steps-text-to-3d", prompt="cube", steps=2)
            paths = await client.download(task, tmp_path)
            with pytest.raises(NotFound):
                await client.get("3d_" + "0" * 32)
            return task, paths

    task, paths = asyncio.run(main())
    assert task.succeeded and task.kind is Kind.MESH
    assert [p.name for p in paths] == ["mesh-1.png"] and paths[0].stat().st_size > 0


def test_env_supplies_url_and_key(server, monkeypatch):
    monkeypatch.setenv("GENMILL_URL", server.url + "/")
    monkeypatch.setenv("GENMILL_API_KEY", KEYS["bob"])
    with Client() as client:
        assert client.url == server.url
        assert any(m.id == "test/echo-i2i" for m in client.models())


def test_resume_against_the_live_server(gm, tmp_path):
    task = gm.run("image", "test/steps-t2i", prompt="whole", steps=1)
    whole = gm.download(task, tmp_path / "whole")[0]
    half = tmp_path / "half"
    half.mkdir()
    data = whole.read_bytes()
    (half / (whole.name + ".part")).write_bytes(data[: len(data) // 2])
    resumed = gm.download_url(task.outputs[0], half, retries=0)
    assert sha256(resumed) == sha256(whole) and not list(half.glob("*.part"))


# -- downloads from a file server that cuts connections ---------------------------------


class FileServer:
    """Serves one blob at /blob with Range; can cut its first answer half-way."""

    def __init__(self, blob: bytes, cut_first: bool = False, honour_range: bool = True):
        self.blob = blob
        self.etag = '"v1"'
        self.cut_pending = cut_first
        self.honour_range = honour_range
        self.requests: list[dict[str, str | None]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                owner.requests.append({"range": self.headers.get("Range"),
                                       "if_range": self.headers.get("If-Range"),
                                       "auth": self.headers.get("Authorization")})
                start, size = 0, len(owner.blob)
                wanted = self.headers.get("Range")
                if self.headers.get("If-Range", owner.etag) != owner.etag:
                    wanted = None  # the file changed since the client's first bytes
                if wanted and owner.honour_range:
                    start = int(re.fullmatch(r"bytes=(\d+)-", wanted)[1])
                    if start >= size:
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{size}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
                else:
                    self.send_response(200)
                body = owner.blob[start:]
                self.send_header("ETag", owner.etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if owner.cut_pending:
                    owner.cut_pending = False
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/files/blob.bin"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def blob() -> bytes:
    return random.Random(7).randbytes(3 * 1024 * 1024 + 17)


@pytest.fixture
def files():
    servers: list[FileServer] = []

    def make(*args, **kwargs) -> FileServer:
        servers.append(FileServer(*args, **kwargs))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def test_download_cut_half_way_resumes_with_range_to_the_same_bytes(files, blob, tmp_path):
    source = files(blob, cut_first=True)
    with Client("http://127.0.0.1:1", "secret-key") as client:
        with pytest.raises(DownloadError):
            client.download_url(source.url, tmp_path, retries=0)
        part = tmp_path / "blob.bin.part"
        assert 0 < part.stat().st_size < len(blob) and not (tmp_path / "blob.bin").exists()
        offset = part.stat().st_size
        path = client.download_url(source.url, tmp_path, retries=0)
    assert path == tmp_path / "blob.bin" and sha256(path) == sha256(blob)
    assert not part.exists()
    assert [r["range"] for r in source.requests] == [None, f"bytes={offset}-"]
    assert source.requests[1]["if_range"] == '"v1"'
    # Output URLs are capabilities: the API key never goes to them.
    assert all(r["auth"] is None for r in source.requests)


def test_download_retries_by_itself_after_a_cut(files, blob, tmp_path):
    source = files(blob, cut_first=True)
    with Client("http://127.0.0.1:1") as client:
        path = client.download_url(source.url, tmp_path)
    assert sha256(path) == sha256(blob)
    assert len(source.requests) == 2 and source.requests[1]["range"].startswith("bytes=")


def test_download_starts_over_when_the_file_changed(files, blob, tmp_path):
    source = files(blob, cut_first=True)
    with Client("http://127.0.0.1:1") as client:
        with pytest.raises(DownloadError):
            client.download_url(source.url, tmp_path, retries=0)
        source.blob, source.etag = blob[::-1], '"v2"'
        path = client.download_url(source.url, tmp_path, retries=0)
    assert sha256(path) == sha256(blob[::-1])
    assert source.requests[1]["if_range"] == '"v1"'
    assert not list(tmp_path.glob("*.part*"))


def test_download_never_resumes_another_urls_leftover(files, blob, tmp_path):
    source = files(blob, cut_first=True)
    with Client("http://127.0.0.1:1") as client:
        with pytest.raises(DownloadError):
            client.download_url(source.url, tmp_path, retries=0)
        other = source.url.replace("/files/", "/other-task/")  # same file name
        path = client.download_url(other, tmp_path, retries=0)
    assert sha256(path) == sha256(blob)
    assert source.requests[1]["range"] is None


def test_download_starts_over_when_range_is_ignored(files, blob, tmp_path):
    source = files(blob, honour_range=False)
    (tmp_path / "blob.bin.part").write_bytes(b"stale bytes from elsewhere")
    with Client("http://127.0.0.1:1") as client:
        path = client.download_url(source.url, tmp_path, retries=0)
    assert sha256(path) == sha256(blob)


def test_download_whole_part_file_is_finished_by_a_416(files, blob, tmp_path):
    source = files(blob)
    (tmp_path / "blob.bin.part").write_bytes(blob)
    with Client("http://127.0.0.1:1") as client:
        path = client.download_url(source.url, tmp_path, retries=0)
    assert sha256(path) == sha256(blob)
    assert source.requests == [{"range": f"bytes={len(blob)}-", "if_range": None,
                                "auth": None}]


def test_download_part_longer_than_the_file_is_dropped(files, blob, tmp_path):
    source = files(blob)
    (tmp_path / "blob.bin.part").write_bytes(blob + b"extra")
    with Client("http://127.0.0.1:1") as client:
        with pytest.raises(DownloadError, match="did not match"):
            client.download_url(source.url, tmp_path, retries=0)
        path = client.download_url(source.url, tmp_path, retries=0)  # starts over
    assert sha256(path) == sha256(blob)


# -- polling through 429s and dropped connections ---------------------------------------


class FlakyStatusServer:
    """A Siray status route that answers from a script: 429, a dropped connection, a 500,
    then the task's progress. It has no event streams, so the client polls."""

    def __init__(self, script: list):
        self.script = list(script)
        self.times: list[float] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path.endswith("/events"):  # a plain Siray server: no event streams
                    self.send_error(404)
                    return
                owner.times.append(time.monotonic())
                step = owner.script.pop(0) if len(owner.script) > 1 else owner.script[0]
                if step == "drop":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if isinstance(step, int):
                    body = json.dumps({"code": "rate_limited" if step == 429 else "internal",
                                       "message": f"status {step}", "data": None}).encode()
                    self.send_response(step)
                    if step == 429:
                        self.send_header("Retry-After", "1")
                else:
                    status, progress = step
                    body = json.dumps({"code": "success", "message": "", "data": {
                        "task_id": "image_ab", "action": "imageGenerate", "status": status,
                        "progress": f"{progress}%", "outputs": [], "start_time": 0,
                        "finish_time": 0, "submit_time": 1763274672, "fail_reason": ""}})
                    body = body.encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_wait_honours_retry_after_and_rides_out_transient_errors():
    flaky = FlakyStatusServer([429, "drop", 500, ("IN_PROGRESS", 40), ("SUCCESS", 100)])
    try:
        with Client(flaky.url, poll_interval=FAST) as client:
            task = client.wait("image_ab", timeout=20)
    finally:
        flaky.close()
    assert task.status is Status.SUCCESS and task.progress == 100
    assert task.submit_time == datetime.fromtimestamp(1763274672, UTC) and not task.start_time
    gaps = [b - a for a, b in zip(flaky.times, flaky.times[1:], strict=False)]
    assert len(gaps) == 4 and gaps[0] >= 1.0  # Retry-After: 1
    assert max(gaps[1:]) < 1.0


def test_wait_gives_up_after_too_many_transient_errors():
    flaky = FlakyStatusServer([500])
    try:
        with Client(flaky.url, poll_interval=0.005) as client, pytest.raises(ServerError):
            client.wait("image_ab", timeout=20)
    finally:
        flaky.close()
    assert len(flaky.times) == 9  # the first try and 8 retries


def test_poll_schedule_follows_the_reference_intervals():
    rng = random.Random(1)
    for kind, (low, high) in [(Kind.IMAGE, (3, 5)), (Kind.VIDEO, (3, 5)), (Kind.MESH, (5, 10))]:
        schedule = PollSchedule(kind, rng=rng)
        delays = [schedule.next_delay() for _ in range(12)]
        assert low * 0.9 <= delays[0] <= low * 1.1
        assert all(low * 0.9 <= d <= high * 1.1 for d in delays)
        assert high * 0.9 <= delays[-1]
    schedule = PollSchedule(Kind.IMAGE, poll_interval=0.5, max_transient_errors=3, rng=rng)
    backoffs = [schedule.after_error(ServerUnreachable("down")) for _ in range(3)]
    assert backoffs[0] <= 0.5 < backoffs[2] <= 2.0
    with pytest.raises(ServerUnreachable):
        schedule.after_error(ServerUnreachable("still down"))
    with pytest.raises(AuthError):
        schedule.after_error(AuthError(401, "no"))


def test_defaults_without_env(monkeypatch):
    monkeypatch.delenv("GENMILL_URL", raising=False)
    monkeypatch.delenv("GENMILL_API_KEY", raising=False)
    with Client() as client:
        assert client.url == "http://127.0.0.1:8080" and client.api_key is None
