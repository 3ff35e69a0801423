"""A live `genmill serve` keeping its files in a real S3-compatible server (SeaweedFS):
submit, poll, stream with Range, conditional requests, download, delete; presigned
redirects a client follows; a store that is down named by /readyz."""

from __future__ import annotations

import base64
import io
import secrets
import subprocess

import httpx
import pytest
from PIL import Image

from tests.conftest import (
    POSTGRES_URL,
    LiveServer,
    _admin,
    free_port,
    postgres_reachable,
    wait_final,
)

IMAGES = "/v1/images/generations/async"


@pytest.fixture(scope="module")
def new_database():
    """The layout S3 storage is for: PostgreSQL for tasks (SQLite when none answers).
    Each server gets a database of its own: servers sharing one must share a bucket prefix
    too, or one's worker would store another's outputs where that one never looks."""
    names: list[str] = []

    def make() -> dict[str, str]:
        if postgres_reachable():
            return {}
        names.append(f"genmill_s3_{secrets.token_hex(4)}")
        _admin(f'CREATE DATABASE "{names[-1]}"')
        return {"GENMILL_DATABASE_URL": f"{POSTGRES_URL.rpartition('/')[0]}/{names[-1]}"}

    yield make
    for name in names:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def proxied(seaweed, new_database, tmp_path_factory):
    """One `genmill serve` with S3 storage in proxy delivery, for this module's tests."""
    prefix = f"http-{secrets.token_hex(4)}"
    server = LiveServer(tmp_path_factory.mktemp("proxied") / "data",
                        env={**seaweed.env(prefix), **new_database()}, workers=1).start()
    server.prefix = prefix
    yield server
    server.stop()


def s3_server(make_server, seaweed, database, tmp_path, **env):
    prefix = f"http-{secrets.token_hex(4)}"
    server = make_server(env={**seaweed.env(prefix), **database, **env}, workers=1,
                         data_dir=tmp_path / f"data-{prefix}")
    return server.start(), prefix


def object_bytes(seaweed, key: str) -> bytes:
    return seaweed.client().get_object(Bucket=seaweed.bucket, Key=key)["Body"].read()


def files_on_disk(server) -> list[str]:
    return sorted(str(p.relative_to(server.data_dir)) for p in server.data_dir.rglob("*")
                  if p.is_file() and not p.name.startswith("genmill.db"))


def test_a_task_from_submit_to_delete_with_s3_storage(seaweed, proxied):
    server, prefix = proxied, proxied.prefix
    big = 9 * 1024 * 1024  # over one 8 MiB part: uploaded in parts
    with server.client() as client:
        task_id = client.post(IMAGES, json={"model": "test/steps-t2i", "prompt": "s3",
                                            "files": ["clip.bin"], "file_bytes": big}
                              ).json()["task_id"]
        data = wait_final(client, f"{IMAGES}/{task_id}")
        assert data["status"] == "SUCCESS", data
        assert [url.rsplit("/", 1)[-1] for url in data["outputs"]] == ["image-1.png",
                                                                       "clip.bin"]
        stored = object_bytes(seaweed, f"{prefix}/tasks/{task_id}/clip.bin")
        assert len(stored) == big
        # The output URL of the Siray status (public: the task id is the capability).
        whole = httpx.get(data["outputs"][1], timeout=30)
        assert whole.status_code == 200 and whole.content == stored
        etag = whole.headers["etag"]
        assert whole.headers["accept-ranges"] == "bytes"
        png = httpx.get(data["outputs"][0])
        assert png.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(png.content)).size[0] > 0

        stream = f"/api/v1/stream/{task_id}/clip.bin"
        part = client.get(stream, headers={"Range": "bytes=1000-1999"})
        assert part.status_code == 206 and part.content == stored[1000:2000]
        assert part.headers["content-range"] == f"bytes 1000-1999/{big}"
        tail = client.get(stream, headers={"Range": "bytes=-10"})
        assert tail.status_code == 206 and tail.content == stored[-10:]
        beyond = client.get(stream, headers={"Range": f"bytes={big}-"})
        assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{big}"
        assert beyond.json()["status"] == 416  # the local dialect's error shape
        invalid = client.get(stream, headers={"Range": "bytes=9-3"})
        assert invalid.status_code == 200 and len(invalid.content) == big  # ignored
        head = client.head(stream)
        assert head.status_code == 200 and head.headers["content-length"] == str(big)
        assert head.headers["etag"] == etag and head.content == b""
        assert client.get(stream, headers={"If-None-Match": etag}).status_code == 304
        since = whole.headers["last-modified"]
        assert client.get(stream, headers={"If-Modified-Since": since}).status_code == 304
        stale = client.get(stream, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
        assert stale.status_code == 200 and len(stale.content) == big
        fresh = client.get(stream, headers={"Range": "bytes=0-9", "If-Range": etag})
        assert fresh.status_code == 206 and fresh.content == stored[:10]
        by_date = client.get(stream, headers={"Range": "bytes=0-9", "If-Range": since})
        assert by_date.status_code == 206
        refused = client.get(stream, headers={"If-Match": '"other"'})
        assert refused.status_code == 412 and refused.json()["status"] == 412
        download = client.get(f"/api/v1/download/{task_id}/clip.bin")
        assert download.status_code == 200 and download.content == stored
        assert download.headers["content-disposition"].startswith("attachment;")

        # A real curl resumes a download with a Range request, as players and wget do.
        key = client.headers["authorization"]
        resumed = subprocess.run(
            ["curl", "-sf", "-r", "4096-", "-H", f"Authorization: {key}", f"{server.url}{stream}"],
            capture_output=True, timeout=60)
        assert resumed.returncode == 0 and resumed.stdout == stored[4096:]

        for bad in (f"/tasks/{task_id}/..%2F..%2Fgenmill.db", f"/tasks/{task_id}/%2e%2e",
                    f"/api/v1/stream/{task_id}/..%2Fclip.bin", "/tasks/..%2Finputs/x.png"):
            assert client.get(bad).status_code == 404, bad

        # Nothing of the task on this machine's disk: all of it is in the bucket.
        assert files_on_disk(server) == []

        assert client.delete(f"/api/v1/tasks/{task_id}").status_code == 200
        assert seaweed.keys(f"{prefix}/tasks/{task_id}") == []
        assert httpx.get(data["outputs"][1]).status_code == 404


def test_inline_inputs_are_stored_in_the_bucket_for_any_worker(seaweed, proxied):
    server, prefix = proxied, proxied.prefix
    buffer = io.BytesIO()
    Image.new("RGB", (16, 12), (200, 30, 40)).save(buffer, "PNG")
    inline = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    with server.client() as client:
        task_id = client.post(IMAGES, json={"model": "test/echo-i2i", "prompt": "echo",
                                            "image": inline}).json()["task_id"]
        assert seaweed.keys(f"{prefix}/inputs/{task_id}") == [
            f"{prefix}/inputs/{task_id}/image-0.png"]
        data = wait_final(client, f"{IMAGES}/{task_id}")
        assert data["status"] == "SUCCESS", data
        echoed = Image.open(io.BytesIO(httpx.get(data["outputs"][0]).content))
        assert echoed.size == (16, 12) and echoed.getpixel((3, 3)) == (200, 30, 40)
        assert files_on_disk(server) == []
        assert client.delete(f"/api/v1/tasks/{task_id}").status_code == 200
        assert seaweed.keys(f"{prefix}/inputs/{task_id}") == []


def test_redirect_delivery_hands_out_presigned_urls(seaweed, new_database, make_server,
                                                    tmp_path):
    server, prefix = s3_server(make_server, seaweed, new_database(), tmp_path,
                               GENMILL_OUTPUT_DELIVERY="redirect", GENMILL_PRESIGN_SECONDS="120")
    with server.client() as client:
        task_id = client.post(IMAGES, json={"model": "test/steps-t2i", "prompt": "r",
                                            "files": ["clip.bin"], "file_bytes": 50_000}
                              ).json()["task_id"]
        data = wait_final(client, f"{IMAGES}/{task_id}")
        stored = object_bytes(seaweed, f"{prefix}/tasks/{task_id}/clip.bin")
        for url in (data["outputs"][1], f"{server.url}/api/v1/stream/{task_id}/clip.bin"):
            moved = client.get(url, follow_redirects=False)
            assert moved.status_code == 307, moved.text
            location = moved.headers["location"]
            assert location.startswith(seaweed.endpoint) and "X-Amz-Signature=" in location
            assert moved.headers["cache-control"] == "no-store"
            # A client that follows it gets the bytes from the store, Range included.
            followed = httpx.get(url, headers=client.headers, follow_redirects=True)
            assert followed.status_code == 200 and followed.content == stored
            ranged = httpx.get(location, headers={"Range": "bytes=10-19"})
            assert ranged.status_code == 206 and ranged.content == stored[10:20]
        # Downloads are redirected too, the store answering with the attachment name
        # (a signed response-content-disposition), as genmill itself would.
        url = f"{server.url}/api/v1/download/{task_id}/clip.bin"
        moved = client.get(url, follow_redirects=False)
        assert moved.status_code == 307, moved.text
        assert "response-content-disposition=attachment" in moved.headers["location"]
        download = httpx.get(url, headers=client.headers, follow_redirects=True)
        assert download.status_code == 200 and download.content == stored
        assert str(download.url).startswith(seaweed.endpoint)
        assert download.headers["content-disposition"] == (
            "attachment; filename=\"clip.bin\"; filename*=UTF-8''clip.bin")


def test_readyz_names_a_storage_that_is_down(make_server, tmp_path, seaweed):
    env = {**seaweed.env(), "GENMILL_S3_ENDPOINT": f"http://127.0.0.1:{free_port()}"}
    server = make_server(env=env, workers=0).start(wait_ready=False)
    ready = httpx.get(server.url + "/readyz", timeout=30)
    assert ready.status_code == 503
    assert "storage" in ready.json()["down"] and ready.json()["database"] == "ok"
    task_id = "image_" + "0" * 32
    missing = httpx.get(f"{server.url}/tasks/{task_id}/a.png", timeout=30)
    assert missing.status_code == 503 and missing.json()["code"] == "service_unavailable"
    with server.client() as client:
        buffer = io.BytesIO()
        Image.new("RGB", (4, 4)).save(buffer, "PNG")
        inline = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
        refused = client.post(IMAGES, json={"model": "test/echo-i2i", "prompt": "x",
                                            "image": inline})
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
        assert client.get("/api/v1/tasks").json()["data"]["total"] == 0


def test_a_commit_held_up_by_a_stalled_s3_keeps_its_lease(make_server, tmp_path, seaweed,
                                                           new_database):
    """S3 stalls (SIGSTOP) for several lease periods while a run's outputs are being
    uploaded: the worker keeps the lease meanwhile, so the task is not re-queued and run
    a second time (found by bench/chaos.py); it ends SUCCESS on its first attempt."""
    import os
    import signal
    import time

    from tests.conftest import wait_for

    server, _ = s3_server(make_server, seaweed, new_database(), tmp_path)  # lease 3 s
    with server.client() as client:
        task_id = client.post(IMAGES, json={"model": "test/steps-t2i", "steps": 4,
                                            "step_ms": 250}).json()["task_id"]
        wait_for(lambda: client.get(f"{IMAGES}/{task_id}").json()["data"]["status"]
                 == "IN_PROGRESS", timeout=60)
        os.killpg(seaweed.process.pid, signal.SIGSTOP)  # the run ends while S3 stalls
        try:
            time.sleep(12)
            assert client.get(f"{IMAGES}/{task_id}").json()["data"]["status"] \
                == "IN_PROGRESS"
        finally:
            os.killpg(seaweed.process.pid, signal.SIGCONT)
        done = wait_final(client, f"{IMAGES}/{task_id}", timeout=60)
        assert done["status"] == "SUCCESS", done
        task = client.get(f"/v1/tasks/{task_id}").json()["data"]
    assert task["attempts"] == 1, task
    assert "lease expired" not in server.log()
