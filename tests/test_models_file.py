"""The models file: every key checked, errors naming the file, the entry and the key, by
the loader, by `genmill models --check` and by a `genmill serve` that refuses to start."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Every entry here is a diffusers one, which the loader accepts only with the extra.
pytest.importorskip("diffusers", reason="needs the diffusers extra: pip install -e '.[diffusers]'")

from genmill.engines.models_file import ModelsFileError, load_models_file
from tests.conftest import REPO, LiveServer


@pytest.fixture
def folder(tmp_path):
    """A folder that looks like a diffusers checkpoint to the loader (never run here)."""
    path = tmp_path / "tiny-sd"
    path.mkdir()
    (path / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    return path


def entry(folder, **keys) -> str:
    values = {"id": "tiny/sd", "engine": "diffusers", "mode": "text-to-image",
              "source": str(folder), **keys}
    lines = ["[[models]]"]
    tables = {k: v for k, v in values.items() if isinstance(v, dict)}
    for key, value in values.items():
        if key not in tables and value is not None:
            lines.append(f"{key} = {json.dumps(value)}")
    for name, table in tables.items():
        lines.append(f"[models.{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def problems(tmp_path, text: str) -> str:
    path = tmp_path / "models.toml"
    path.write_text(text)
    with pytest.raises(ModelsFileError) as caught:
        load_models_file(path)
    return str(caught.value)


def test_a_good_file_gives_specs_with_its_keys(tmp_path, folder):
    path = tmp_path / "models.toml"
    path.write_text(entry(folder, name="Tiny", description="d", time_limit=90, dtype="float16",
                          device="cuda:1", offload="model", pipeline="StableDiffusionPipeline",
                          defaults={"num_inference_steps": 4, "guidance_scale": 5.0},
                          limits={"width": 768, "height": 512, "steps": 50, "n": 2})
                    + entry(folder, id="tiny/sd-i2i", mode="image-to-image", device="cpu"))
    t2i, i2i = load_models_file(path)
    assert (t2i.id, t2i.name, t2i.description, t2i.time_limit) == ("tiny/sd", "Tiny", "d", 90)
    assert t2i.device == "cuda:1" and i2i.device == "cpu"  # cuda:1: only GPU 1's worker
    assert t2i.load_group and t2i.load_group != i2i.load_group  # other device: another load
    params = t2i.params.model_validate({})
    assert params.num_inference_steps == 4 and params.guidance_scale == 5.0
    assert t2i.params_schema()["properties"]["width"]["anyOf"][0]["maximum"] == 768


@pytest.mark.parametrize(("keys", "message"), [
    ({"mode": "txt2img"}, "models[0].mode: unknown mode 'txt2img'"),
    ({"engine": "comfy"}, "models[0].engine: unknown engine 'comfy'"),
    ({"engine": None}, "models[0].engine: missing"),
    ({"id": "no-slash"}, "models[0].id: 'no-slash' is not a model id"),
    ({"dtype": "int8"}, "models[0].dtype: Input should be 'float16', 'bfloat16' or 'float32'"),
    ({"device": "tpu"}, "models[0].device: unknown device 'tpu'"),
    ({"offload": "disk"}, "models[0].offload:"),
    ({"colour": "red"}, "models[0].colour: unknown key"),
    ({"source": "/nowhere/at/all"}, "models[0].source: /nowhere/at/all is not a diffusers folder"),
    ({"source": "someone/not-cached"}, "models[0].source: 'someone/not-cached' is not in the "
                                       "local Hugging Face cache"),
    ({"limits": {"width": 10}}, "models[0].limits.width: Input should be greater than or equal"),
    ({"limits": {"depth": 3}}, "models[0].limits.depth: unknown key"),
    ({"defaults": {"strength": 0.5}}, "models[0].defaults.strength: not a default"),
    ({"defaults": {"n": 9}}, "models[0].defaults.n: Input should be less than or equal to 4"),
    ({"time_limit": 0}, "models[0].time_limit: Input should be greater than 0"),
])
def test_each_bad_key_is_named_with_the_file_and_entry(tmp_path, folder, keys, message,
                                                       monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    text = problems(tmp_path, entry(folder, **keys))
    assert text.startswith(str(tmp_path / "models.toml") + ": "), text
    assert message in text, text


def test_problems_in_several_entries_are_all_reported(tmp_path, folder):
    text = problems(tmp_path, entry(folder) + entry(folder, mode="txt2img")
                    + entry(folder))
    lines = text.splitlines()
    assert "models[1].mode: unknown mode 'txt2img'" in lines[0]
    assert "models[2].id: 'tiny/sd' is already declared by models[0]" in lines[1]


def test_not_toml_and_stray_keys(tmp_path):
    assert "not valid TOML" in problems(tmp_path, "[[models]\n")
    assert "modles: unknown key" in problems(tmp_path, "[[modles]]\nid = 'a/b'\n")


def run_genmill(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "genmill", *args], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
                          capture_output=True, text=True, timeout=120)


def test_genmill_models_check(tmp_path, folder):
    good = tmp_path / "good.toml"
    good.write_text(entry(folder))
    result = run_genmill("models", "--check", str(good), "--json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [m["id"] for m in listed] == ["tiny/sd"] and listed[0]["tag"] == "text-to-image"

    bad = tmp_path / "models.toml"
    bad.write_text(entry(folder, mode="txt2img"))
    result = run_genmill("models", "--check", str(bad))
    assert result.returncode == 2
    assert f"{bad}: models[0].mode: unknown mode 'txt2img'" in result.stderr


def test_serve_stops_at_start_on_a_bad_file(tmp_path, folder):
    bad = tmp_path / "models.toml"
    bad.write_text(entry(folder, mode="txt2img"))
    server = LiveServer(tmp_path / "data", env={"GENMILL_MODELS_FILE": str(bad)}, workers=0)
    with pytest.raises(RuntimeError, match="exited early") as caught:
        server.start()
    assert f"{bad}: models[0].mode: unknown mode 'txt2img'" in str(caught.value)
    assert server.process.returncode == 2


def test_serve_stops_at_start_when_no_worker_has_the_gpu_an_entry_names(tmp_path, folder):
    pinned = tmp_path / "models.toml"
    pinned.write_text(entry(folder, device="cuda:3"))
    server = LiveServer(tmp_path / "data", env={"GENMILL_MODELS_FILE": str(pinned),
                                                "GENMILL_GPUS": "0,1"}, workers=1)
    with pytest.raises(RuntimeError, match="exited early") as caught:
        server.start()
    assert "no worker here has the GPU of tiny/sd (device cuda:3)" in str(caught.value)
    assert "GPUs are 0, 1" in str(caught.value)
    assert server.process.returncode == 2


def test_a_models_toml_in_the_data_dir_is_read_by_default(tmp_path, folder):
    data = tmp_path / "data"
    data.mkdir()
    (data / "models.toml").write_text(entry(folder, id="tiny/from-data-dir"))
    result = run_genmill("models", "--json", env={"GENMILL_DATA_DIR": str(data)})
    assert result.returncode == 0, result.stderr
    assert "tiny/from-data-dir" in [m["id"] for m in json.loads(result.stdout)]


def test_without_the_extra_the_message_says_what_to_install(tmp_path, folder, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    text = problems(tmp_path, entry(folder))
    assert "models[0].engine: the diffusers engine needs the optional extra: " \
           "pip install 'genmill[diffusers]' (missing: torch)" in text
