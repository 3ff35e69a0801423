"""`engine = "comfyui"` against a ComfyUI-protocol server (tests/comfyui_server.py, from
ComfyUI's documented routes) running real ComfyUI node types, and against a real ComfyUI
where COMFYUI_URL is set."""

from __future__ import annotations

import base64
import io
import json
import os
import sqlite3
import subprocess
import sys
import time

import httpx
import pytest
from PIL import Image

from tests.conftest import REPO, LiveServer, free_port, wait_final, wait_for
from tests.relay_helpers import entry

IMAGE = "/v1/images/generations/async"
T2I = {"1": {"class_type": "EmptyImage",
             "inputs": {"width": 64, "height": 48, "batch_size": 1, "color": 0}},
       "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0],
                                                   "filename_prefix": "genmill"}}}
I2I = {"1": {"class_type": "LoadImage", "inputs": {"image": "missing.png"}},
       "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
       "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0],
                                                   "filename_prefix": "inverted"}}}
T2I_BIND = {"width": "1.width", "height": "1.height", "seed": "1.color",
            "prompt": "2.filename_prefix"}


def comfy_models(base_url: str, folder, no_ws_url: str | None = None) -> str:
    (folder / "t2i.json").write_text(json.dumps(T2I))
    (folder / "i2i.json").write_text(json.dumps(I2I))
    common = {"base_url": base_url, "poll_interval": 0.2, "upstream_name": "comfy"}
    no_ws = entry(id="comfy/no-ws-t2i", engine="comfyui", mode="text-to-image",
                  workflow=str(folder / "t2i.json"), base_url=no_ws_url,
                  poll_interval=0.2) if no_ws_url else ""
    return (no_ws
            + entry(id="comfy/empty-t2i", engine="comfyui", mode="text-to-image",
                  workflow=str(folder / "t2i.json"), bind=T2I_BIND, **common)
            + entry(id="comfy/invert-i2i", engine="comfyui", mode="image-to-image",
                    workflow=str(folder / "i2i.json"), bind={"image": "1.image"}, **common)
            + entry(id="comfy/broken-t2i", engine="comfyui", mode="text-to-image",
                    workflow=str(folder / "i2i.json"), **common))


def start_comfy(root, **env):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tests.comfyui_server", str(port),
                                str(root)], cwd=REPO, env={**os.environ,
                                                           "COMFY_TEST_DELAY": "2.0", **env})
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return httpx.get(url + "/queue").status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, timeout=30, interval=0.1)
    return url, process


@pytest.fixture(scope="module")
def comfy(tmp_path_factory):
    url, process = start_comfy(tmp_path_factory.mktemp("comfy"))
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="module")
def comfy_no_ws(tmp_path_factory):
    """The same server without /ws: genmill learns only from /history."""
    url, process = start_comfy(tmp_path_factory.mktemp("comfy-no-ws"), COMFY_TEST_NO_WS="1")
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="module")
def relay(comfy, comfy_no_ws, tmp_path_factory):
    folder = tmp_path_factory.mktemp("comfy-relay")
    (folder / "models.toml").write_text(comfy_models(comfy, folder, comfy_no_ws))
    live = LiveServer(folder / "data", env={"GENMILL_MODELS_FILE": str(folder / "models.toml")}
                      ).start()
    yield live
    live.stop()


def run(relay: LiveServer, body: dict) -> dict:
    with relay.client() as client:
        response = client.post(IMAGE, json=body)
        assert response.status_code == 200, response.text
        return wait_final(client, f"{IMAGE}/{response.json()['task_id']}", timeout=60)


def test_bound_params_run_the_workflow(relay, comfy):
    data = run(relay, {"model": "comfy/empty-t2i", "prompt": "red", "width": 40, "height": 30,
                       "seed": 0xFF0000})
    assert data["status"] == "SUCCESS", data["fail_reason"]
    (url,) = data["outputs"]
    assert url.startswith(relay.url) and url.endswith("/red_00001_.png")
    image = Image.open(io.BytesIO(httpx.get(url).content))
    assert image.size == (40, 30) and image.getpixel((0, 0)) == (255, 0, 0)
    original = httpx.get(f"{comfy}/view", params={"filename": "red_00001_.png",
                                                  "type": "output"})
    assert httpx.get(url).content == original.content


def test_an_input_image_is_uploaded(relay):
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), (0, 255, 0)).save(buffer, "PNG")
    image = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    data = run(relay, {"model": "comfy/invert-i2i", "image": image})
    assert data["status"] == "SUCCESS", data["fail_reason"]
    result = Image.open(io.BytesIO(httpx.get(data["outputs"][0]).content))
    assert result.size == (20, 10) and result.getpixel((5, 5)) == (255, 0, 255)


def test_a_failing_workflow_fails_with_the_nodes_error(relay):
    data = run(relay, {"model": "comfy/broken-t2i"})
    assert data["status"] == "FAILURE"
    assert data["fail_reason"].startswith("comfy: LoadImage: ")
    assert "missing.png" in data["fail_reason"]


def test_an_unbound_param_is_a_400(relay):
    with relay.client() as client:
        response = client.post(IMAGE, json={"model": "comfy/broken-t2i", "width": 64})
    assert response.status_code == 400 and "width" in response.json()["error"]["message"]


def test_cancel_deletes_a_queued_prompt_and_interrupts_a_running_one(relay, comfy):
    with relay.client() as client:
        tasks = [client.post(IMAGE, json={"model": "comfy/empty-t2i", "prompt": name}
                             ).json()["task_id"] for name in ("running", "queued")]

        def prompt_id(task):
            with sqlite3.connect(relay.data_dir / "genmill.db") as conn:
                row = conn.execute("SELECT upstream_id FROM relay_jobs WHERE task_id = ?",
                                   (task,)).fetchone()
            return row and row[0]

        upstream = [wait_for(lambda t=t: prompt_id(t), timeout=30) for t in tasks]
        for task in tasks:
            client.post(f"/v1/tasks/{task}/cancel")
        finals = [wait_final(client, f"{IMAGE}/{task}", timeout=30) for task in tasks]
    assert [(f["status"], f["fail_reason"]) for f in finals] == [("FAILURE", "canceled")] * 2

    def stopped():
        queue = httpx.get(f"{comfy}/queue").json()
        waiting = [p[1] for p in queue["queue_running"] + queue["queue_pending"]]
        return not set(upstream) & set(waiting)
    wait_for(stopped, timeout=10)
    # The queued prompt was deleted before it ran; the running one was interrupted (each
    # prompt waits 2 s in the test server, cancels land within about 1 s).
    assert httpx.get(f"{comfy}/history/{upstream[1]}").json() == {}
    ran = httpx.get(f"{comfy}/history/{upstream[0]}").json()[upstream[0]]
    assert ran["status"]["status_str"] == "error"
    assert "interrupted" in ran["status"]["messages"][0][1]["exception_message"]


def progress_seen(relay: LiveServer, model: str) -> tuple[list[int], dict]:
    """The distinct progress values a relayed task showed, polled every 50 ms, and its end."""
    with relay.client() as client:
        task = client.post(IMAGE, json={"model": model}).json()["task_id"]
        seen: list[int] = []
        while True:
            data = client.get(f"{IMAGE}/{task}").json()["data"]
            percent = int(data["progress"].rstrip("%"))
            if not seen or seen[-1] != percent:
                seen.append(percent)
            if data["status"] in ("SUCCESS", "FAILURE"):
                return seen, data
            time.sleep(0.05)


def test_progress_rises_with_comfyuis_websocket_events(relay):
    """The prompt sends ten progress events over its 2 s; /history has nothing to say until
    it is done, so a value between 0 and 100 came from the websocket."""
    seen, data = progress_seen(relay, "comfy/empty-t2i")
    assert data["status"] == "SUCCESS", data["fail_reason"]
    assert seen == sorted(seen) and seen[-1] == 100, seen
    assert [p for p in seen if 0 < p < 100], seen


def test_without_the_websocket_history_polling_still_ends_the_task(relay):
    seen, data = progress_seen(relay, "comfy/no-ws-t2i")
    assert data["status"] == "SUCCESS", data["fail_reason"]
    assert seen in ([0, 100], [100]), seen


def test_bind_must_name_a_node_input_of_the_workflow(tmp_path):
    from genmill.engines.models_file import ModelsFileError, load_models_file

    (tmp_path / "t2i.json").write_text(json.dumps(T2I))
    path = tmp_path / "models.toml"
    path.write_text(entry(id="comfy/a", engine="comfyui", mode="text-to-image",
                          base_url="http://127.0.0.1:8188", workflow=str(tmp_path / "t2i.json"),
                          bind={"prompt": "9.text"})
                    + entry(id="comfy/b", engine="comfyui", mode="text-to-image",
                            base_url="http://127.0.0.1:8188",
                            workflow=str(tmp_path / "none.json")))
    with pytest.raises(ModelsFileError) as caught:
        load_models_file(path)
    assert "models[0].bind.prompt: the workflow has no node '9'" in str(caught.value)
    assert "models[1].workflow: cannot read" in str(caught.value)


@pytest.mark.skipif(not os.environ.get("COMFYUI_URL"),
                    reason="needs a real ComfyUI: set COMFYUI_URL (ComfyUI is not installable "
                           "from the package registries here)")
def test_a_real_comfyui_runs_the_workflow(tmp_path):
    (tmp_path / "models.toml").write_text(comfy_models(os.environ["COMFYUI_URL"], tmp_path))
    live = LiveServer(tmp_path / "data",
                      env={"GENMILL_MODELS_FILE": str(tmp_path / "models.toml")}).start()
    try:
        data = run(live, {"model": "comfy/empty-t2i", "prompt": "real", "width": 32,
                          "height": 32, "seed": 0x0000FF})
        assert data["status"] == "SUCCESS", data["fail_reason"]
        image = Image.open(io.BytesIO(httpx.get(data["outputs"][0]).content))
        assert image.size == (32, 32) and image.getpixel((0, 0))[:3] == (0, 0, 255)
    finally:
        live.stop()
