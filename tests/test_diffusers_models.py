"""Diffusers models from a models file, end to end through a real `genmill serve`.

A tiny Stable-Diffusion-shaped pipeline with random weights is saved into a folder and a
local Hugging Face cache; the server loads it offline (HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

import io
import time

import httpx
import pytest
from PIL import Image

pytest.importorskip("diffusers", reason="needs the diffusers extra")

from siray import Siray  # noqa: E402

from tests import tiny_pipelines  # noqa: E402
from tests.conftest import KEYS, LiveServer, wait_final, wait_for  # noqa: E402
from tests.test_mesh_models import gltf_validator, validate_glb  # noqa: E402, F401

IMAGES = "/v1/images/generations/async"


def models_toml(sd_folder, oom_class: str, t2v_folder, svd_folder, shap_e_folder,
                shap_e_i2i_folder) -> str:
    return f"""
[[models]]
id = "tiny/shap-e-i2i"
engine = "diffusers"
mode = "image-to-3d"
source = "{shap_e_i2i_folder}"
device = "cpu"
[models.defaults]
num_inference_steps = 2
mesh_resolution = 24

[[models]]
id = "tiny/sd-gpu-pool"
engine = "diffusers"
mode = "text-to-image"
source = "{sd_folder}"
device = "auto"          # a GPU model: served by the GPU worker (on the CPU here)
[models.defaults]
num_inference_steps = 40
width = 64
height = 64

[[models]]
id = "tiny/shap-e"
engine = "diffusers"
mode = "text-to-3d"
source = "{shap_e_folder}"
device = "cpu"
[models.defaults]
num_inference_steps = 2
mesh_resolution = 24

[[models]]
id = "tiny/t2v"
engine = "diffusers"
mode = "text-to-video"
source = "{t2v_folder}"
device = "cpu"
[models.defaults]
num_inference_steps = 2
width = 64
height = 64
fps = 8
[models.limits]
frames = 12

[[models]]
id = "tiny/svd-i2v"
engine = "diffusers"
mode = "image-to-video"
source = "{svd_folder}"
device = "cpu"
[models.defaults]
num_inference_steps = 2
num_frames = 4
[models.limits]
width = 128
height = 128
frames = 8

[[models]]
id = "tiny/sd-t2i"
name = "Tiny SD"
engine = "diffusers"
mode = "text-to-image"
source = "{sd_folder}"
device = "cpu"
[models.defaults]
num_inference_steps = 2
width = 64
height = 64
[models.limits]
width = 128
height = 128
steps = 40
n = 2

[[models]]
id = "tiny/sd-i2i"
engine = "diffusers"
mode = "image-to-image"
source = "{sd_folder}"
device = "cpu"
[models.defaults]
num_inference_steps = 4
[models.limits]
width = 128
height = 128

[[models]]
id = "tiny/sd-hub"
engine = "diffusers"
mode = "text-to-image"
source = "genmill-test/tiny-sd"
device = "cpu"
[models.defaults]
num_inference_steps = 2
width = 64
height = 64

[[models]]
id = "tiny/sd-oom"
engine = "diffusers"
mode = "text-to-image"
source = "{sd_folder}"
pipeline = "{oom_class}"
device = "cpu"
[models.defaults]
num_inference_steps = 3
width = 64
height = 64
[models.limits]
steps = 40
"""


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    import torch

    torch.set_num_threads(1)  # the servers' processes need the cores more
    root = tmp_path_factory.mktemp("weights")
    folder = tiny_pipelines.save(tiny_pipelines.stable_diffusion(), root / "tiny-sd",
                                 root / "hub", "genmill-test/tiny-sd")
    t2v = tiny_pipelines.save(tiny_pipelines.text_to_video(), root / "tiny-t2v")
    svd = tiny_pipelines.save(tiny_pipelines.stable_video_diffusion(), root / "tiny-svd")
    shap_e = tiny_pipelines.save(tiny_pipelines.shap_e(), root / "tiny-shap-e")
    shap_e_i2i = tiny_pipelines.save(tiny_pipelines.shap_e_img2img(), root / "tiny-shap-e-i2i")
    models = root / "models.toml"
    models.write_text(models_toml(folder, "tests.tiny_pipelines:OomOnPromptPipeline", t2v, svd,
                                  shap_e, shap_e_i2i))
    return {"folder": folder, "hub": root / "hub", "models": models}


def server_env(weights) -> dict[str, str]:
    return {"GENMILL_MODELS_FILE": str(weights["models"]), "HF_HUB_OFFLINE": "1",
            "HF_HUB_CACHE": str(weights["hub"]), "OMP_NUM_THREADS": "1",
            "GENMILL_LEASE_SECONDS": "30"}


@pytest.fixture(scope="module")
def database():
    """A PostgreSQL database for the module's server (SQLite where none answers).

    On SQLite, on this crowded two-core machine, the API's start-up migration kept failing
    with "database is locked" behind the idle worker's claim polls (noted in the report);
    PostgreSQL serves the same routes and queue."""
    import secrets

    from tests.conftest import POSTGRES_URL, _admin, postgres_reachable

    if postgres_reachable():
        yield ""
        return
    name = f"genmill_diffusers_{secrets.token_hex(4)}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES_URL.rpartition('/')[0]}/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def live(weights, database, tmp_path_factory):
    # GPU 0 gets a worker of its own: with no GPU here it runs its models on the CPU, which
    # is what the pools test needs (the CPU worker must not wait behind it).
    env = {**server_env(weights), "GENMILL_DATABASE_URL": database, "GENMILL_GPUS": "0"}
    server = LiveServer(tmp_path_factory.mktemp("diffusers") / "data", env=env,
                        workers=1).start(timeout=240)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def alice(live):
    with live.client() as client:
        # The first task imports torch and diffusers in the engine host and loads the
        # pipeline: minutes on a crowded two-core machine. Pay it once, before the tests.
        task_id = submit(client, model="tiny/sd-t2i", prompt="warm up", seed=0)
        assert wait_final(client, f"{IMAGES}/{task_id}", timeout=900)["status"] == "SUCCESS"
        yield client


def submit(client: httpx.Client, **body) -> str:
    response = client.post(IMAGES, json=body)
    assert response.status_code == 200, response.text
    return response.json()["task_id"]


def finish(client: httpx.Client, task_id: str) -> dict:
    data = wait_final(client, f"{IMAGES}/{task_id}", timeout=300)
    return data


def output(client: httpx.Client, data: dict, index: int = 0) -> bytes:
    response = client.get(data["outputs"][index])
    assert response.status_code == 200
    return response.content


def loads(live: LiveServer) -> int:
    return live.log_path.read_text(errors="replace").count("loaded pipeline ")


def test_models_file_entries_are_listed_with_params(alice):
    listed = {m["id"]: m for m in alice.get("/v1/models").json()["data"]}
    t2i = listed["tiny/sd-t2i"]
    assert t2i["tag"] == "text-to-image" and t2i["model_name"] == "Tiny SD"
    props = t2i["params"]["properties"]
    assert props["num_inference_steps"]["maximum"] == 40
    assert props["n"]["maximum"] == 2 and "guidance_scale" in props
    assert "strength" in listed["tiny/sd-i2i"]["params"]["properties"]


def test_png_of_the_requested_size_same_seed_same_bytes_and_n(alice, live):
    first = finish(alice, submit(alice, model="tiny/sd-t2i", prompt="a red fox",
                                 size="64x96", seed=7))
    assert first["status"] == "SUCCESS", first
    png = output(alice, first)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(io.BytesIO(png)).size == (64, 96)

    again = finish(alice, submit(alice, model="tiny/sd-t2i", prompt="a red fox",
                                 size="64x96", seed=7))
    assert output(alice, again) == png
    other = finish(alice, submit(alice, model="tiny/sd-t2i", prompt="a red fox",
                                 size="64x96", seed=8))
    assert output(alice, other) != png

    pair = finish(alice, submit(alice, model="tiny/sd-t2i", prompt="two", n=2, seed=1))
    assert len(pair["outputs"]) == 2
    a, b = output(alice, pair, 0), output(alice, pair, 1)
    assert a != b and Image.open(io.BytesIO(b)).size == (64, 64)
    # Four tasks, one load: the pipeline stays in the worker between tasks.
    assert loads(live) == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"size": "512x512"}, "size"),
    ({"width": 256}, "width"),
    ({"num_inference_steps": 41}, "num_inference_steps"),
    ({"n": 3}, "n"),
    ({"size": "100x64"}, "size"),
    ({"strength": 0.5}, "strength"),  # text-to-image has no strength
])
def test_values_past_the_entry_limits_are_400_naming_the_field(alice, body, field):
    response = alice.post(IMAGES, json={"model": "tiny/sd-t2i", "prompt": "x", **body})
    assert response.status_code == 400
    answer = response.json()
    assert answer["data"] is None and answer["message"].startswith(f"{field}:"), answer


def test_cfg_scale_is_accepted_as_guidance_scale(alice):
    task_id = submit(alice, model="tiny/sd-t2i", prompt="x", cfg_scale=3.5, seed=3)
    assert finish(alice, task_id)["status"] == "SUCCESS"


def test_image_to_image_uses_the_input_image(alice):
    def run(color) -> bytes:
        buffer = io.BytesIO()
        Image.new("RGB", (96, 64), color).save(buffer, "PNG")
        import base64

        url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
        data = finish(alice, submit(alice, model="tiny/sd-i2i", prompt="x", image=url,
                                    seed=5, strength=0.5))
        assert data["status"] == "SUCCESS", data
        return output(alice, data)

    red, blue = run((255, 0, 0)), run((0, 0, 255))
    assert red != blue
    assert Image.open(io.BytesIO(red)).size == (96, 64)  # the input's size


def test_a_hugging_face_repo_id_loads_from_the_local_cache(alice):
    data = finish(alice, submit(alice, model="tiny/sd-hub", prompt="x", seed=1))
    assert data["status"] == "SUCCESS", data


def test_progress_rises_with_the_steps_and_cancel_stops_at_the_next_step(alice, live):
    finish(alice, submit(alice, model="tiny/sd-oom", prompt="warm", seed=1))
    before = loads(live)
    task_id = submit(alice, model="tiny/sd-oom", prompt=tiny_pipelines.SLOW_PROMPT,
                     num_inference_steps=40)
    seen: list[int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        data = alice.get(f"{IMAGES}/{task_id}").json()["data"]
        percent = int(str(data["progress"]).rstrip("%") or 0)
        if percent and percent not in seen:
            seen.append(percent)
        if len(seen) >= 2:
            break
        time.sleep(0.05)
    assert len(seen) >= 2 and seen == sorted(seen) and 0 < seen[0] < seen[-1] < 100, seen
    assert alice.post(f"/v1/tasks/{task_id}/cancel").status_code == 200
    data = finish(alice, task_id)
    assert data["status"] == "FAILURE" and "cancel" in data["fail_reason"]
    # Stopped by the step callback, not by killing the engine: the next task needs no load.
    after = finish(alice, submit(alice, model="tiny/sd-oom", prompt="next", seed=2))
    assert after["status"] == "SUCCESS"
    assert loads(live) == before


def test_readyz_and_genmill_models_say_which_worker_holds_which_model(alice, live):
    import json
    import os
    import subprocess
    import sys

    finish(alice, submit(alice, model="tiny/sd-t2i", prompt="x", seed=3))

    def loaded() -> dict[str, list[str]]:
        workers = httpx.get(live.url + "/readyz", timeout=30).json()["worker_devices"]
        return {w["device"]: w["loaded"] for w in workers}

    wait_for(lambda: "tiny/sd-t2i" in loaded().get("cpu", []), 20)
    devices = loaded()
    assert set(devices) == {"cpu", "cuda:0"}  # the CPU worker and GPU 0's
    # Entries over the same weights share the load, so they count as loaded too.
    assert {"tiny/sd-t2i", "tiny/sd-i2i"} <= set(devices["cpu"])
    assert "tiny/sd-t2i" not in devices["cuda:0"]

    listed = subprocess.run(
        [sys.executable, "-m", "genmill", "models", "--url", live.url, "--json"],
        env={**os.environ, "GENMILL_API_KEY": KEYS["alice"]}, capture_output=True, text=True,
        timeout=120)
    assert listed.returncode == 0, listed.stderr
    by_id = {m["id"]: m for m in json.loads(listed.stdout)}
    assert any(place.startswith("cpu on ") for place in by_id["tiny/sd-t2i"]["loaded_on"])
    assert by_id["genmill/title-card-t2i"]["loaded_on"] == []


def test_out_of_gpu_memory_fails_one_task_and_the_next_succeeds(alice, live):
    failed = finish(alice, submit(alice, model="tiny/sd-oom", prompt=tiny_pipelines.OOM_PROMPT))
    assert failed["status"] == "FAILURE"
    assert failed["fail_reason"].startswith("out of GPU memory: CUDA out of memory")
    ok = finish(alice, submit(alice, model="tiny/sd-oom", prompt="fine", seed=4))
    assert ok["status"] == "SUCCESS", ok
    assert "the model's process died" not in live.log_path.read_text(errors="replace")


VIDEOS = "/v1/video/generations"


def data_url(image: Image.Image) -> str:
    import base64

    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def video_frames(content: bytes) -> tuple[int, tuple[int, int]]:
    import av

    with av.open(io.BytesIO(content)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = list(container.decode(stream))
    return len(frames), (frames[0].width, frames[0].height)


def video_task(client: httpx.Client, **body) -> dict:
    response = client.post(VIDEOS, json=body)
    assert response.status_code == 200, response.text
    data = wait_final(client, f"{VIDEOS}/{response.json()['task_id']}", timeout=300)
    assert data["status"] == "SUCCESS", data
    return data


def test_text_to_video_has_the_requested_frame_count(alice):
    data = video_task(alice, model="tiny/t2v", prompt="waves", num_frames=5, seed=1)
    names = [url.rsplit("/", 1)[1] for url in data["outputs"]]
    assert names == ["video-1.mp4", "poster.jpg"]
    assert video_frames(output(alice, data)) == (5, (64, 64))
    # duration x fps when no frame count is given; past the limit is a 400 naming it.
    data = video_task(alice, model="tiny/t2v", prompt="waves", duration=1, seed=1)
    assert video_frames(output(alice, data))[0] == 8
    refused = alice.post(VIDEOS, json={"model": "tiny/t2v", "prompt": "x", "duration": 2})
    assert refused.status_code == 400 and refused.json()["message"].startswith("duration:")


def test_image_to_video_follows_the_input_image(alice):
    image = data_url(Image.new("RGB", (96, 64), (200, 30, 30)))
    data = video_task(alice, model="tiny/svd-i2v", image=image, seed=2)
    assert video_frames(output(alice, data)) == (4, (96, 64))
    poster = Image.open(io.BytesIO(output(alice, data, 1)))
    assert poster.size == (96, 64)


def test_shap_e_makes_a_valid_glb_stl_and_preview(alice, gltf_validator, tmp_path):  # noqa: F811
    import trimesh

    response = alice.post("/v1/3d/generations", json={"model": "tiny/shap-e",
                                                      "prompt": "a red box", "seed": 3})
    assert response.status_code == 200, response.text
    data = wait_final(alice, f"/v1/3d/generations/{response.json()['task_id']}", timeout=300)
    assert data["status"] == "SUCCESS", data
    names = [url.rsplit("/", 1)[1] for url in data["outputs"]]
    assert names == ["model.glb", "model.stl", "preview.png"]
    glb = tmp_path / "model.glb"
    glb.write_bytes(output(alice, data, 0))
    report = validate_glb(gltf_validator, glb)
    assert report["errors"] == 0, report["messages"]
    stl = trimesh.load(io.BytesIO(output(alice, data, 1)), file_type="stl")
    assert len(stl.faces) > 0 and stl.is_watertight
    assert Image.open(io.BytesIO(output(alice, data, 2))).size == (384, 384)


def test_shap_e_image_to_3d_makes_a_valid_glb(alice, gltf_validator, tmp_path):  # noqa: F811
    response = alice.post("/v1/3d/generations", json={
        "model": "tiny/shap-e-i2i", "image": data_url(Image.new("RGB", (48, 48), (200, 40, 40))),
        "seed": 3})
    assert response.status_code == 200, response.text
    data = wait_final(alice, f"/v1/3d/generations/{response.json()['task_id']}", timeout=300)
    assert data["status"] == "SUCCESS", data
    assert [url.rsplit("/", 1)[1] for url in data["outputs"]] == [
        "model.glb", "model.stl", "preview.png"]
    glb = tmp_path / "model.glb"
    glb.write_bytes(output(alice, data, 0))
    report = validate_glb(gltf_validator, glb)
    assert report["errors"] == 0, report["messages"]
    # Without its input image the image-to-3D model refuses the task, naming the field.
    refused = alice.post("/v1/3d/generations", json={"model": "tiny/shap-e-i2i", "seed": 3})
    assert refused.status_code == 400 and "image" in refused.text


def test_the_siray_sdk_runs_a_diffusers_model(live):
    sdk = Siray(api_key=KEYS["alice"], base_url=live.url)
    status = sdk.image.run(model="tiny/sd-t2i", prompt="a lighthouse", poll_interval=0.1,
                           timeout=120, seed=11, size="64x64")
    assert status.is_completed(), status.fail_reason
    image = Image.open(io.BytesIO(httpx.get(status.result).content))
    assert image.size == (64, 64)


def test_cpu_models_do_not_wait_behind_gpu_models(alice, live):
    """Five long diffusion tasks for the GPU worker, then a built-in title card: the CPU
    worker takes the card at once."""
    slow = [submit(alice, model="tiny/sd-gpu-pool", prompt="slow", seed=i) for i in range(5)]
    card = submit(alice, model="genmill/title-card-t2i", prompt="Hello", size="256x256")
    data = finish(alice, card)
    assert data["status"] == "SUCCESS", data
    statuses = [alice.get(f"{IMAGES}/{task_id}").json()["data"]["status"] for task_id in slow]
    assert "SUCCESS" not in statuses, statuses  # the card did not queue behind them
    for task_id in slow:
        alice.post(f"/v1/tasks/{task_id}/cancel")
    assert "cuda:0" in live.log_path.read_text(errors="replace")  # the pool was started
