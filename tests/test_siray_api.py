"""The Siray dialect through a live server: shapes, lifecycle, auth, errors, inputs."""

from __future__ import annotations

import base64
import io
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from PIL import Image

from tests.conftest import KEYS, wait_final

STATUS_KEYS = ["task_id", "action", "status", "progress", "outputs", "start_time",
               "finish_time", "submit_time", "fail_reason"]


def png_bytes(size=(40, 30), color=(200, 30, 60)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def submit(client, path, **body) -> httpx.Response:
    return client.post(path, json=body)


def assert_error(response: httpx.Response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "data", "error"}
    assert body["data"] is None and body["message"]
    assert body["error"]["message"] == body["message"]
    assert body["error"]["code"] == body["code"] and body["error"]["type"]
    assert re.fullmatch(r"[a-z_]+", body["code"])
    if field:
        assert field in body["message"], body["message"]
    return body


@pytest.fixture
def alice(server):
    with server.client(KEYS["alice"]) as client:
        yield client


@pytest.fixture
def bob(server):
    with server.client(KEYS["bob"]) as client:
        yield client


@pytest.mark.parametrize("path,model,prefix,action", [
    ("/v1/images/generations/async", "test/steps-t2i", "image_", "imageGenerate"),
    ("/v1/video/generations", "test/steps-t2v", "video_", "videoGenerate"),
    ("/v1/3d/generations", "test/steps-text-to-3d", "3d_", "3dGenerate"),
])
def test_submit_poll_and_fetch_each_kind(alice, server, path, model, prefix, action):
    response = submit(alice, path, model=model, prompt="a red fox", seed=42)
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["code", "message", "task_id", "data"]
    task_id = body["task_id"]
    assert body["data"] == {"task_id": task_id} and body["code"] == "success"
    assert re.fullmatch(prefix + r"[0-9a-f]{32}", task_id)

    data = wait_final(alice, f"{path}/{task_id}")
    document = alice.get(f"{path}/{task_id}").json()
    assert list(document) == ["code", "message", "data"]
    assert list(document["data"]) == STATUS_KEYS
    assert data["status"] == "SUCCESS", data
    assert data["action"] == action and data["progress"] == "100%"
    assert data["fail_reason"] == ""
    assert data["submit_time"] <= data["start_time"] <= data["finish_time"]
    assert abs(data["submit_time"] - time.time()) < 60
    assert len(data["outputs"]) == 1
    url = data["outputs"][0]
    assert url.startswith(server.url + f"/tasks/{task_id}/")
    # Output URLs work without the bearer header, like the hosted service's.
    image = httpx.get(url)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).size == (32, 32)


def test_status_while_queued_has_zero_times(alice):
    # Occupy both workers, then the third task waits in the queue.
    busy = [submit(alice, "/v1/images/generations/async", model="test/steps-t2i",
                   steps=20, step_ms=50).json()["task_id"] for _ in range(2)]
    waiting = submit(alice, "/v1/images/generations/async", model="test/steps-t2i").json()
    data = alice.get(f"/v1/images/generations/async/{waiting['task_id']}").json()["data"]
    assert data["status"] in ("QUEUED", "IN_PROGRESS", "SUCCESS")
    if data["status"] == "QUEUED":
        assert data["start_time"] == 0 and data["finish_time"] == 0
        assert data["progress"] == "0%" and data["outputs"] == []
    for task_id in busy + [waiting["task_id"]]:
        assert wait_final(alice, f"/v1/images/generations/async/{task_id}")["status"] == "SUCCESS"


def test_progress_moves_forward_while_running(alice):
    task_id = submit(alice, "/v1/images/generations/async", model="test/steps-t2i",
                     steps=20, step_ms=100).json()["task_id"]
    seen = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        data = alice.get(f"/v1/images/generations/async/{task_id}").json()["data"]
        seen.append(int(data["progress"].rstrip("%")))
        if data["status"] == "SUCCESS":
            break
        assert seen[-1] < 100  # 100 only on success
        time.sleep(0.1)
    assert seen == sorted(seen) and seen[-1] == 100
    assert len({p for p in seen if 0 < p < 100}) >= 2


def test_seed_is_recorded_and_reproducible(alice, server):
    outputs = []
    for _ in range(2):
        task_id = submit(alice, "/v1/images/generations/async", model="test/steps-t2i",
                         prompt="same", seed=1234).json()["task_id"]
        data = wait_final(alice, f"/v1/images/generations/async/{task_id}")
        outputs.append(httpx.get(data["outputs"][0]).content)
    assert outputs[0] == outputs[1]


def test_engine_exception_is_a_one_line_failure(alice):
    task_id = submit(alice, "/v1/images/generations/async", model="test/steps-t2i",
                     fail="the flux capacitor broke").json()["task_id"]
    data = wait_final(alice, f"/v1/images/generations/async/{task_id}")
    assert data["status"] == "FAILURE"
    assert data["fail_reason"] == "the model failed: RuntimeError: the flux capacitor broke"
    assert "Traceback" not in data["fail_reason"] and data["outputs"] == []


def test_engine_process_crash_fails_the_task_and_the_worker_survives(alice):
    task_id = submit(alice, "/v1/images/generations/async", model="test/steps-t2i",
                     fail="crash").json()["task_id"]
    data = wait_final(alice, f"/v1/images/generations/async/{task_id}")
    assert data["status"] == "FAILURE" and "process died" in data["fail_reason"]
    again = submit(alice, "/v1/images/generations/async", model="test/steps-t2i").json()
    assert wait_final(alice, f"/v1/images/generations/async/{again['task_id']}")["status"] == \
        "SUCCESS"


def test_failed_task_leaves_no_files(alice, server):
    task_id = submit(alice, "/v1/images/generations/async", model="test/steps-t2i",
                     fail="nope").json()["task_id"]
    wait_final(alice, f"/v1/images/generations/async/{task_id}")
    assert not (server.data_dir / "tasks" / task_id).exists()
    assert not list((server.data_dir / "staging").glob(f"{task_id}*"))


# -- auth -------------------------------------------------------------------------------


def test_missing_and_wrong_keys_are_401(server):
    with server.client(None) as anonymous:
        assert_error(anonymous.get("/v1/models"), 401)
        assert_error(submit(anonymous, "/v1/images/generations/async",
                            model="test/steps-t2i"), 401)
    with server.client("not-a-key") as wrong:
        assert_error(wrong.get("/v1/models"), 401)


def test_x_api_key_header_works(server):
    with httpx.Client(base_url=server.url, headers={"X-API-Key": KEYS["bob"]}) as client:
        assert client.get("/v1/models").status_code == 200


def test_a_key_never_sees_another_keys_tasks(alice, bob):
    task_id = submit(alice, "/v1/images/generations/async", model="test/steps-t2i").json()[
        "task_id"]
    assert alice.get(f"/v1/images/generations/async/{task_id}").status_code == 200
    assert_error(bob.get(f"/v1/images/generations/async/{task_id}"), 404)
    assert_error(bob.post(f"/v1/tasks/{task_id}/cancel"), 404)
    wait_final(alice, f"/v1/images/generations/async/{task_id}")


# -- errors -----------------------------------------------------------------------------


def test_task_of_another_kind_on_a_kinds_path_is_404(alice):
    task_id = submit(alice, "/v1/images/generations/async", model="test/steps-t2i").json()[
        "task_id"]
    assert_error(alice.get(f"/v1/video/generations/{task_id}"), 404)
    assert_error(alice.get(f"/v1/3d/generations/{task_id}"), 404)
    assert_error(alice.get("/v1/video/generations/video_" + "0" * 32), 404)
    assert_error(alice.get("/v1/video/generations/nonsense"), 404)


@pytest.mark.parametrize("body,field", [
    ({"prompt": "no model"}, "model"),
    ({"model": "no/such-model"}, "model"),
    ({"model": "test/steps-t2v"}, "model"),  # a video model on the image path
    ({"model": "test/steps-t2i", "n": 9}, "n"),
    ({"model": "test/steps-t2i", "n": "many"}, "n"),
    ({"model": "test/steps-t2i", "seed": -5}, "seed"),
    ({"model": "test/steps-t2i", "aspect_ratio": "5:7"}, "aspect_ratio"),
    ({"model": "test/steps-t2i", "colour": "teal"}, "colour"),
    ({"model": "test/steps-t2i", "prompt": 12}, "prompt"),
    ({"model": "test/steps-t2i", "priority": "high"}, "priority"),
    ({"model": "test/echo-i2i"}, "image"),
    ({"model": "test/echo-i2i", "image": 5}, "image"),
    ({"model": "test/echo-i2i", "image": "ftp://example.com/a.png"}, "image"),
    ({"model": "test/echo-i2i", "image": "data:image/png;base64,@@@"}, "image"),
    ({"model": "test/echo-i2i", "image": "data:image/png;base64," +
      base64.b64encode(b"not an image at all").decode()}, "image"),
    ({"model": "test/echo-i2i", "image": data_url(png_bytes()[:60])}, "image"),
    ({"model": "test/echo-i2i", "images": [data_url(png_bytes()), 7]}, "images[1]"),
])
def test_bad_submissions_are_400_naming_the_field(alice, body, field):
    assert_error(alice.post("/v1/images/generations/async", json=body), 400, field)


def test_bad_video_params_are_400(alice):
    assert_error(submit(alice, "/v1/video/generations", model="test/steps-t2v",
                        duration=0), 400, "duration")
    assert_error(submit(alice, "/v1/video/generations", model="test/steps-t2v",
                        resolution="8k"), 400, "resolution")
    assert_error(submit(alice, "/v1/3d/generations", model="test/steps-text-to-3d",
                        face_limit=5), 400, "face_limit")


@pytest.mark.parametrize("content", [b"", b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_malformed_bodies_are_400(alice, content):
    response = alice.post("/v1/images/generations/async", content=content,
                          headers={"Content-Type": "application/json"})
    assert_error(response, 400, "body")


def test_decompression_bomb_is_refused_before_decoding(alice):
    buffer = io.BytesIO()
    Image.new("1", (9000, 9000)).save(buffer, "PNG")  # 81 MP, a few KB
    response = submit(alice, "/v1/images/generations/async", model="test/echo-i2i",
                      image=data_url(buffer.getvalue()))
    assert_error(response, 400, "megapixels")


def test_body_over_the_cap_is_413(alice):
    big = b'{"model": "test/steps-t2i", "prompt": "' + b"x" * (31 * 1024 * 1024) + b'"}'
    response = alice.post("/v1/images/generations/async", content=big,
                          headers={"Content-Type": "application/json"})
    assert_error(response, 413)


def test_unknown_route_and_method(alice):
    assert_error(alice.get("/v1/nope"), 404)
    assert_error(alice.delete("/v1/models"), 405)


def test_nothing_is_stored_for_a_rejected_submission(alice, server):
    before = alice.get("/v1/models")  # warm
    assert before.status_code == 200
    count = len(list((server.data_dir / "inputs").iterdir()))
    submit(alice, "/v1/images/generations/async", model="test/echo-i2i",
           image=data_url(png_bytes()), n=99)
    assert len(list((server.data_dir / "inputs").iterdir())) == count


# -- inputs and SSRF --------------------------------------------------------------------


def test_data_url_input_arrives_intact(alice):
    source = png_bytes((50, 20), (10, 200, 30))
    task_id = submit(alice, "/v1/images/generations/async", model="test/echo-i2i",
                     image=data_url(source)).json()["task_id"]
    data = wait_final(alice, f"/v1/images/generations/async/{task_id}")
    assert data["status"] == "SUCCESS", data
    echoed = Image.open(io.BytesIO(httpx.get(data["outputs"][0]).content))
    assert echoed.size == (50, 20) and echoed.getpixel((3, 3)) == (10, 200, 30)


def test_own_output_url_is_read_from_disk(alice):
    first = submit(alice, "/v1/images/generations/async", model="test/steps-t2i").json()
    url = wait_final(alice, f"/v1/images/generations/async/{first['task_id']}")["outputs"][0]
    # A loopback URL would be refused if it were fetched; this one is read from disk.
    task_id = submit(alice, "/v1/images/generations/async", model="test/echo-i2i",
                     image=url).json()["task_id"]
    data = wait_final(alice, f"/v1/images/generations/async/{task_id}")
    assert data["status"] == "SUCCESS", data
    assert Image.open(io.BytesIO(httpx.get(data["outputs"][0]).content)).size == (32, 32)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/a.png",
    "http://localhost/a.png",
    "http://10.1.2.3/a.png",
    "http://192.168.0.1/a.png",
    "http://172.16.5.4/a.png",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/a.png",
    "http://[::ffff:127.0.0.1]/a.png",
    "http://224.0.0.1/a.png",
    "http://0.0.0.0/a.png",
])
def test_private_addresses_are_refused_at_submit(alice, url):
    response = submit(alice, "/v1/images/generations/async", model="test/echo-i2i", image=url)
    assert_error(response, 400, "image")


def test_names_that_resolve_to_private_addresses_are_refused_at_fetch():
    from genmill.engines.base import InputError
    from genmill.worker.fetch import fetch_image

    with pytest.raises(InputError, match="private, loopback"):
        fetch_image("http://localhost/a.png", 1000, 2)
    # The machine's own name resolves (via /etc/hosts) to a local address too.
    import socket

    with pytest.raises(InputError, match="private, loopback|cannot resolve"):
        fetch_image(f"http://{socket.gethostname()}/a.png", 1000, 2)


class _ImageHandler(BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, str, bytes, dict]] = {}

    def do_GET(self):  # noqa: N802 (the http.server API)
        status, ctype, body, headers = self.routes.get(self.path, (404, "text/plain", b"", {}))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def image_host():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _ImageHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    _ImageHandler.routes = {
        "/ok.png": (200, "image/png", png_bytes((21, 13)), {}),
        "/page.html": (200, "text/html", b"<html></html>", {}),
        "/big.png": (200, "image/png", b"\0" * (21 * 1024 * 1024), {}),
        "/broken.png": (200, "image/png", b"\x89PNG garbage", {}),
        "/redirect": (302, "text/plain", b"", {"Location": "/ok.png"}),
    }
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def fetching_server(tmp_path_factory):
    from tests.conftest import LiveServer

    live = LiveServer(tmp_path_factory.mktemp("fetch") / "data", workers=1,
                      env={"GENMILL_ALLOW_PRIVATE_FETCH": "1"}).start()
    yield live
    live.stop()


@pytest.mark.parametrize("path,status,reason", [
    ("/ok.png", "SUCCESS", ""),
    ("/redirect", "SUCCESS", ""),
    ("/page.html", "FAILURE", "not an image"),
    ("/big.png", "FAILURE", "limit"),
    ("/broken.png", "FAILURE", "decod"),
    ("/missing.png", "FAILURE", "HTTP 404"),
])
def test_remote_inputs_are_fetched_with_checks(fetching_server, image_host, path, status,
                                               reason):
    with fetching_server.client() as client:
        task_id = submit(client, "/v1/images/generations/async", model="test/echo-i2i",
                         image=image_host + path).json()["task_id"]
        data = wait_final(client, f"/v1/images/generations/async/{task_id}")
    assert data["status"] == status, data
    assert reason in data["fail_reason"]


# -- models and docs --------------------------------------------------------------------


def test_models_lists_modes_and_params(alice):
    body = alice.get("/v1/models").json()
    assert body["code"] == "success"
    models = {m["id"]: m for m in body["data"]}
    entry = models["test/steps-t2i"]
    assert entry["tag"] == "text-to-image" and entry["kind"] == "image"
    assert entry["model_name"] == "steps-t2i"
    assert entry["params"]["properties"]["n"]["maximum"] == 4
    assert models["test/echo-i2i"]["tag"] == "image-to-image"
    assert models["test/steps-text-to-3d"]["kind"] == "3d"


def test_openapi_describes_every_endpoint_and_model(alice, server):
    schema = httpx.get(server.url + "/openapi.json").json()
    paths = schema["paths"]
    for path in ["/v1/images/generations/async", "/v1/video/generations",
                 "/v1/3d/generations", "/v1/images/generations/async/{task_id}",
                 "/v1/video/generations/{task_id}", "/v1/3d/generations/{task_id}",
                 "/v1/models", "/healthz", "/readyz", "/tasks/{task_id}/{name}"]:
        assert path in paths, path
    variants = paths["/v1/images/generations/async"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]["oneOf"]
    assert {v["title"] for v in variants} >= {"test/steps-t2i", "test/echo-i2i"}
    assert httpx.get(server.url + "/docs").status_code == 200


def test_health_and_readiness(server):
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(server.url + "/readyz").json()
    assert ready["status"] == "ready" and ready["workers"] == 2


def test_fast_status_rendering_equals_the_document():
    import json

    from genmill.api.siray import status_document, status_json
    from genmill.domain import Kind, Status, Task

    for outputs, reason, times in [
        ([], "", (1.5, None, None)),
        (["image-1.png", "vidéo été.mp4", 'q"uote.png'], "", (1.0, 2.0, 3.9)),
        ([], 'the model failed: ValueError: bad "x" \\ ünïcode\n', (5.0, 6.0, 7.0)),
    ]:
        task = Task(id="video_" + "a" * 32, kind=Kind.VIDEO, model="m", owner="o",
                    status=Status.FAILURE if reason else Status.SUCCESS, action="videoGenerate",
                    progress=37, outputs=outputs, fail_reason=reason, submit_time=times[0],
                    start_time=times[1], finish_time=times[2])
        fast = status_json(task, "http://h:1")
        assert json.loads(fast) == status_document(task, "http://h:1")
        assert fast == json.dumps(status_document(task, "http://h:1"), ensure_ascii=False,
                                  separators=(",", ":")).encode()
