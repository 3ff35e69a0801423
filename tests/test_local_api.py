"""The local task API (/api/v1) and output files, through a live server."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import time

import httpx
import pytest

from tests.conftest import KEYS, wait_final, wait_for

IMAGES = "/v1/images/generations/async"
SIZE = 200_000
NAMES = ["clip.mp4", "data.bin", "model.glb", "model.stl", "subtitle.vtt", "subtitle.srt",
         "audio.m4a", "photo.jpeg", "photo.webp", "vidéo été.mp4"]


def assert_local_error(response: httpx.Response, status: int, words: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status and body["data"] is None and body["message"]
    assert set(body) == {"status", "message", "data"}
    assert words in body["message"]


@pytest.fixture(scope="module")
def alice(server):
    with server.client(KEYS["alice"]) as client:
        yield client


@pytest.fixture(scope="module")
def done(server, alice) -> dict:
    """A finished task with one output of each type the file routes must label."""
    response = alice.post(IMAGES, json={"model": "test/steps-t2i", "files": NAMES,
                                        "file_bytes": SIZE})
    task_id = response.json()["task_id"]
    wait_final(alice, f"{IMAGES}/{task_id}")
    return alice.get(f"/api/v1/tasks/{task_id}").json()["data"]


def file_bytes(server, task_id: str, name: str) -> bytes:
    return (server.data_dir / "tasks" / task_id / name).read_bytes()


# -- tasks ------------------------------------------------------------------------------


def test_task_document(done, server):
    assert done["state"] == 1 and done["progress"] == 100 and done["status"] == "SUCCESS"
    assert done["kind"] == "image" and done["model"] == "test/steps-t2i"
    base = f"{server.url}/tasks/{done['task_id']}/"
    assert done["outputs"][0] == base + "image-1.png"
    assert done["videos"] == [base + "clip.mp4", base + "vid%C3%A9o%20%C3%A9t%C3%A9.mp4"]
    assert done["combined_videos"] == [] and done["fail_reason"] == ""


def test_state_4_while_waiting_and_minus_1_on_failure(alice):
    slow = alice.post(IMAGES, json={"model": "test/steps-t2i", "steps": 30,
                                    "step_ms": 50}).json()["task_id"]
    data = alice.get(f"/api/v1/tasks/{slow}").json()["data"]
    assert data["state"] == 4 and 0 <= data["progress"] < 100
    failing = alice.post(IMAGES, json={"model": "test/steps-t2i", "fail": "bad"}).json()
    wait_final(alice, f"{IMAGES}/{failing['task_id']}")
    failed = alice.get(f"/api/v1/tasks/{failing['task_id']}").json()["data"]
    assert failed["state"] == -1 and "bad" in failed["fail_reason"]
    wait_final(alice, f"{IMAGES}/{slow}")


def test_list_pages_newest_first_with_filters(make_server):
    server = make_server(workers=1).start()
    with server.client() as client:
        ids = [client.post(IMAGES, json={"model": "test/steps-t2i", "steps": 1,
                                         "step_ms": 0}).json()["task_id"] for _ in range(7)]
        video = client.post("/v1/video/generations", json={"model": "test/steps-t2v"}).json()
        failed = client.post(IMAGES, json={"model": "test/steps-t2i", "fail": "x"}).json()
        for task_id in ids + [failed["task_id"]]:
            wait_final(client, f"{IMAGES}/{task_id}")
        wait_final(client, f"/v1/video/generations/{video['task_id']}")

        body = client.get("/api/v1/tasks", params={"page": 1, "page_size": 4}).json()
        assert body["status"] == 200 and body["message"] == "success"
        assert body["data"]["total"] == 9 and body["data"]["page"] == 1
        assert body["data"]["page_size"] == 4
        listed = [t["task_id"] for t in body["data"]["tasks"]]
        assert listed == [failed["task_id"], video["task_id"], ids[6], ids[5]]
        page3 = client.get("/api/v1/tasks?page=3&page_size=4").json()["data"]["tasks"]
        assert [t["task_id"] for t in page3] == [ids[0]]
        beyond = client.get("/api/v1/tasks?page=9&page_size=4").json()["data"]
        assert beyond["tasks"] == [] and beyond["total"] == 9

        def ids_for(**params):
            data = client.get("/api/v1/tasks", params={"page_size": 100, **params}).json()
            return [t["task_id"] for t in data["data"]["tasks"]], data["data"]["total"]

        assert ids_for(state=-1) == ([failed["task_id"]], 1)
        assert ids_for(kind="video") == ([video["task_id"]], 1)
        assert ids_for(model="test/steps-t2v", state=1) == ([video["task_id"]], 1)
        assert ids_for(state=1)[1] == 8
        assert ids_for(state=4) == ([], 0)
        # Default page size is 10.
        assert client.get("/api/v1/tasks").json()["data"]["page_size"] == 10


@pytest.mark.parametrize("query,field", [
    ("page_size=0", "page_size"), ("page_size=101", "page_size"), ("page_size=ten", "page_size"),
    ("page=0", "page"), ("page=-1", "page"), ("page=1.5", "page"), ("state=2", "state"),
    ("state=done", "state"), ("kind=audio", "kind"),
])
def test_list_rejects_bad_queries_in_the_local_shape(alice, query, field):
    assert_local_error(alice.get(f"/api/v1/tasks?{query}"), 400, field)


def test_unknown_task_is_404(alice):
    assert_local_error(alice.get("/api/v1/tasks/video_" + "0" * 32), 404)
    assert_local_error(alice.get("/api/v1/tasks/not-an-id"), 404)
    assert_local_error(alice.delete("/api/v1/tasks/video_" + "0" * 32), 404)


def test_405_lists_every_method_the_path_serves(alice):
    """GET and DELETE of a task are two routes: the Allow header must name both."""
    response = alice.request("OPTIONS", "/api/v1/tasks/nope")
    assert_local_error(response, 405)
    assert set(response.headers["Allow"].split(", ")) == {"DELETE", "GET"}


def test_delete_removes_task_and_files(alice, server):
    task_id = alice.post(IMAGES, json={"model": "test/steps-t2i"}).json()["task_id"]
    wait_final(alice, f"{IMAGES}/{task_id}")
    assert (server.data_dir / "tasks" / task_id).is_dir()
    response = alice.delete(f"/api/v1/tasks/{task_id}")
    assert response.status_code == 200 and response.json()["status"] == 200
    assert not (server.data_dir / "tasks" / task_id).exists()
    assert_local_error(alice.get(f"/api/v1/tasks/{task_id}"), 404)
    assert_local_error(alice.delete(f"/api/v1/tasks/{task_id}"), 404)


def test_delete_of_a_running_task_cancels_it(alice, server):
    task_id = alice.post(IMAGES, json={"model": "test/steps-t2i", "steps": 100,
                                       "step_ms": 50}).json()["task_id"]
    deadline = time.monotonic() + 10
    while alice.get(f"/api/v1/tasks/{task_id}").json()["data"]["status"] != "IN_PROGRESS":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert alice.delete(f"/api/v1/tasks/{task_id}").status_code == 200
    # The worker notices within its cancel check and drops the run: then both workers
    # can run new tasks at the same time (a worker runs one task at a time).
    again = [alice.post(IMAGES, json={"model": "test/steps-t2i", "steps": 200,
                                      "step_ms": 50}).json()["task_id"] for _ in range(2)]
    wait_for(lambda: all(alice.get(f"{IMAGES}/{t}").json()["data"]["status"] == "IN_PROGRESS"
                         for t in again), 20)
    assert not (server.data_dir / "tasks" / task_id).exists()
    assert not list((server.data_dir / "staging").glob(f"{task_id}*"))
    for t in again:
        assert alice.delete(f"/api/v1/tasks/{t}").status_code == 200


def test_delete_during_a_download_ends_it_cleanly(alice, server):
    task_id = alice.post(IMAGES, json={"model": "test/steps-t2i", "files": ["big.bin"],
                                       "file_bytes": 60_000_000}).json()["task_id"]
    wait_final(alice, f"{IMAGES}/{task_id}", timeout=60)
    expected = hashlib.sha256(file_bytes(server, task_id, "big.bin")).hexdigest()
    received = hashlib.sha256()
    count = 0
    with httpx.stream("GET", f"{server.url}/api/v1/download/{task_id}/big.bin",
                      headers={"Authorization": f"Bearer {KEYS['alice']}"}) as response:
        assert response.status_code == 200
        for chunk in response.iter_raw(1 << 16):
            received.update(chunk)
            count += len(chunk)
            if count >= 1 << 20 and count - len(chunk) < 1 << 20:
                assert alice.delete(f"/api/v1/tasks/{task_id}").status_code == 200
    # The file was open when it was deleted: the bytes sent are the whole file's.
    assert count == 60_000_000 and received.hexdigest() == expected
    assert not (server.data_dir / "tasks" / task_id).exists()


# -- files: types, ranges, conditionals -------------------------------------------------


@pytest.mark.parametrize("name,content_type", [
    ("image-1.png", "image/png"), ("clip.mp4", "video/mp4"), ("model.glb", "model/gltf-binary"),
    ("model.stl", "model/stl"), ("subtitle.vtt", "text/vtt"),
    ("subtitle.srt", "application/x-subrip"), ("audio.m4a", "audio/mp4"),
    ("photo.jpeg", "image/jpeg"), ("photo.webp", "image/webp"),
])
def test_content_types(server, alice, done, name, content_type):
    for path in (f"/tasks/{done['task_id']}/{name}", f"/api/v1/stream/{done['task_id']}/{name}"):
        response = alice.head(path)
        assert response.status_code == 200
        assert response.headers["content-type"].split(";")[0] == content_type


def test_ranges(alice, server, done):
    task_id = done["task_id"]
    data = file_bytes(server, task_id, "data.bin")
    url = f"/api/v1/stream/{task_id}/data.bin"

    whole = alice.get(url)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["etag"] and whole.headers["last-modified"]

    for header, expected, content_range in [
        ("bytes=0-9", data[:10], f"bytes 0-9/{SIZE}"),
        ("bytes=100-", data[100:], f"bytes 100-{SIZE - 1}/{SIZE}"),
        ("bytes=-5", data[-5:], f"bytes {SIZE - 5}-{SIZE - 1}/{SIZE}"),
        (f"bytes=10-{SIZE + 500}", data[10:], f"bytes 10-{SIZE - 1}/{SIZE}"),
    ]:
        part = alice.get(url, headers={"Range": header})
        assert part.status_code == 206, header
        assert part.content == expected and part.headers["content-range"] == content_range
        assert int(part.headers["content-length"]) == len(expected)

    for bad in (f"bytes={SIZE}-", f"bytes={SIZE + 10}-{SIZE + 20}"):
        refused = alice.get(url, headers={"Range": bad})
        assert refused.status_code == 416, bad
        assert refused.headers["content-range"] == f"bytes */{SIZE}"


def test_multi_range_is_multipart_byteranges(alice, server, done):
    task_id = done["task_id"]
    data = file_bytes(server, task_id, "data.bin")
    response = alice.get(f"/api/v1/stream/{task_id}/data.bin",
                         headers={"Range": "bytes=0-4,100-109"})
    assert response.status_code == 206
    content_type = response.headers["content-type"]
    assert content_type.startswith("multipart/byteranges; boundary=")
    boundary = content_type.split("boundary=")[1].encode()
    parts = [p for p in response.content.split(b"--" + boundary) if p.strip(b"\r\n-")]
    bodies = []
    for part in parts:
        head, _, body = part.partition(b"\r\n\r\n")
        assert re.search(rb"Content-Range: bytes \d+-\d+/" + str(SIZE).encode(), head, re.I)
        bodies.append(body.removesuffix(b"\r\n"))
    assert bodies == [data[0:5], data[100:110]]


def test_conditional_requests(alice, done):
    url = f"/api/v1/stream/{done['task_id']}/data.bin"
    first = alice.get(url)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    not_modified = alice.get(url, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    assert alice.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    assert alice.get(url, headers={"If-Modified-Since": modified}).status_code == 304
    # If-Range: the range applies only while the validator still matches.
    assert alice.get(url, headers={"Range": "bytes=0-3", "If-Range": etag}).status_code == 206
    stale = alice.get(url, headers={"Range": "bytes=0-3", "If-Range": '"stale"'})
    assert stale.status_code == 200 and len(stale.content) == SIZE


def test_download_is_an_attachment_with_rfc6266_names(alice, done):
    plain = alice.get(f"/api/v1/download/{done['task_id']}/data.bin")
    assert plain.headers["content-disposition"] == (
        "attachment; filename=\"data.bin\"; filename*=UTF-8''data.bin")
    accented = alice.get(f"/api/v1/download/{done['task_id']}/vidéo été.mp4")
    assert accented.status_code == 200
    assert accented.headers["content-disposition"] == (
        "attachment; filename=\"vid_o _t_.mp4\"; "
        "filename*=UTF-8''vid%C3%A9o%20%C3%A9t%C3%A9.mp4")
    ranged = alice.get(f"/api/v1/download/{done['task_id']}/data.bin",
                       headers={"Range": "bytes=5-9"})
    assert ranged.status_code == 206 and len(ranged.content) == 5


def test_curl_and_wget_resume_downloads(server, done, tmp_path):
    task_id = done["task_id"]
    data = file_bytes(server, task_id, "data.bin")
    url = f"{server.url}/api/v1/download/{task_id}/data.bin"
    auth = f"Authorization: Bearer {KEYS['alice']}"
    target = tmp_path / "curl.bin"
    target.write_bytes(data[:12345])  # an interrupted earlier download
    subprocess.run(["curl", "-sS", "-f", "-C", "-", "-H", auth, "-o", str(target), url],
                   check=True, timeout=60)
    assert target.read_bytes() == data
    wget_target = tmp_path / "wget.bin"
    wget_target.write_bytes(data[:777])
    subprocess.run(["wget", "-q", "-c", "--header", auth, "-O", str(wget_target), url],
                   check=True, timeout=60)
    assert wget_target.read_bytes() == data


def test_ffmpeg_reads_and_seeks_a_video_from_the_url(server, done):
    import av

    url = f"{server.url}/api/v1/stream/{done['task_id']}/clip.mp4"
    options = {"headers": f"Authorization: Bearer {KEYS['alice']}\r\n"}
    with av.open(url, options=options) as container:
        stream = container.streams.video[0]
        assert container.duration / 1e6 == pytest.approx(2.0, abs=0.05)
        container.seek(int(1.5 / stream.time_base), stream=stream)
        frame = next(container.decode(stream))
        assert frame.time == pytest.approx(1.5, abs=0.5)
        assert (frame.width, frame.height) == (64, 48)


# -- safety -----------------------------------------------------------------------------

TRAVERSALS = [
    "..", "../genmill.db", "..%2Fgenmill.db", "%2e%2e%2fgenmill.db", "%252e%252e%252fgenmill.db",
    "..%5C..%5Cgenmill.db", "%5C..%5Cgenmill.db", "image-1.png%00.txt", "%2Fetc%2Fpasswd",
    "%E2%88%95etc%E2%88%95passwd", "%EF%BC%8E%EF%BC%8E%EF%BC%8Fgenmill.db",
    ".hidden", "%2e", "link.png",
]


@pytest.mark.parametrize("route", ["/tasks", "/api/v1/stream", "/api/v1/download"])
def test_no_name_reaches_outside_the_task_dir(server, done, route):
    task_dir = server.data_dir / "tasks" / done["task_id"]
    link = task_dir / "link.png"
    if not link.is_symlink():
        os.symlink(server.data_dir / "genmill.db", link)  # planted by someone with disk access
    headers = {"Authorization": f"Bearer {KEYS['alice']}"}
    for name in TRAVERSALS:
        raw = f"{server.url}{route}/{done['task_id']}/{name}"
        response = httpx.get(httpx.URL(raw), headers=headers)
        assert response.status_code in (400, 404), (name, response.status_code)
        assert b"SQLite" not in response.content
    for task_part in ("..", "..%2F..", "image_..", "%2e%2e"):
        response = httpx.get(f"{server.url}{route}/{task_part}/genmill.db", headers=headers)
        assert response.status_code in (400, 404)
        assert b"SQLite" not in response.content


def test_another_keys_task_is_404_on_every_local_route(server, done):
    with server.client(KEYS["bob"]) as bob:
        task_id = done["task_id"]
        for method, path in [("GET", f"/api/v1/tasks/{task_id}"),
                             ("DELETE", f"/api/v1/tasks/{task_id}"),
                             ("GET", f"/api/v1/stream/{task_id}/data.bin"),
                             ("GET", f"/api/v1/download/{task_id}/data.bin"),
                             ("HEAD", f"/api/v1/stream/{task_id}/data.bin")]:
            response = bob.request(method, path)
            assert response.status_code == 404, (method, path)
        listed = bob.get("/api/v1/tasks?page_size=100").json()["data"]["tasks"]
        assert task_id not in [t["task_id"] for t in listed]
    with server.client(None) as nobody:
        assert nobody.get(f"/api/v1/tasks/{task_id}").status_code == 401


def test_a_browser_video_element_seeks_through_the_stream_url(tmp_path):
    """Headless Chromium plays and seeks the MP4 with Range requests (206)."""
    import shutil

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium here (apt-get install chromium) to play the video in")
    from tests.conftest import LiveServer

    # A <video> element sends no key, so this server runs open (loopback, no keys).
    live = LiveServer(tmp_path / "open", workers=1, keys={}).start()
    try:
        with live.client(None) as client:
            task_id = client.post(IMAGES, json={"model": "test/steps-t2i",
                                                "files": ["clip.mp4"]}).json()["task_id"]
            wait_final(client, f"{IMAGES}/{task_id}")
        page = tmp_path / "page.html"
        page.write_text(f"""<html><body><div id=out>waiting</div>
<video id=v preload=auto muted src="{live.url}/api/v1/stream/{task_id}/clip.mp4"></video>
<script>
const v = document.getElementById('v'), out = document.getElementById('out');
v.addEventListener('loadedmetadata', () => {{ v.currentTime = 1.5; }});
v.addEventListener('seeked', () => {{
  out.textContent = 'SEEKED ' + v.currentTime + ' ' + v.duration + ' ' + v.videoWidth; }});
v.addEventListener('error', () => {{ out.textContent = 'ERROR ' + v.error.code; }});
</script></body></html>""")
        result = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
             "--virtual-time-budget=15000", "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=90)
        found = re.search(r'<div id="out">([^<]*)', result.stdout)
        assert found and found.group(1) == "SEEKED 1.5 2 64", result.stdout[-500:]
        assert " 206 " in live.log()
    finally:
        live.stop()
