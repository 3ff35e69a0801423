"""The `genmill` client commands, run as subprocesses against a live server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import KEYS, REPO, free_port

FAST = ["--poll-interval", "0.1"]


@pytest.fixture
def genmill(server, tmp_path):
    """Runs `genmill ARGS…` in tmp_path with the server's URL and alice's key."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "GENMILL_URL", "GENMILL_API_KEY")}
    env.update(PYTHONPATH=str(REPO), GENMILL_URL=server.url, GENMILL_API_KEY=KEYS["alice"],
               COLUMNS="200", XDG_CACHE_HOME=str(tmp_path / "cache"))

    def run(*args: str, timeout: float = 60, **overrides: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "genmill", *args], cwd=tmp_path,
                              env={**env, **overrides}, capture_output=True, text=True,
                              timeout=timeout)

    run.env = env
    return run


def json_of(result: subprocess.CompletedProcess):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("kind,model", [
    ("image", "test/steps-t2i"), ("video", "test/steps-t2v"), ("3d", "test/steps-text-to-3d"),
])
def test_generate_waits_and_downloads_each_kind(genmill, tmp_path, kind, model):
    result = genmill("generate", kind, "--model", model, "--prompt", "a fox",
                     "--param", "steps=4", "--param", "step_ms=80", "-o", "out", *FAST)
    assert result.returncode == 0, result.stderr
    paths = result.stdout.split()
    assert len(paths) == 1 and Path(paths[0]).parent == Path("out")
    assert Image.open(tmp_path / paths[0]).size == (32, 32)
    lines = result.stderr.splitlines()
    task_id = lines[0].removeprefix("submitted ")
    assert task_id.startswith(("image_", "video_", "3d_"))
    # Not a terminal: one plain line per change, ending in SUCCESS.
    assert lines[-1].startswith(f"{task_id} SUCCESS 100% ")
    assert any(" IN_PROGRESS " in line for line in lines)


def test_generate_json_and_input_image(genmill, tmp_path):
    Image.new("RGB", (20, 10), (1, 2, 3)).save(tmp_path / "in.png")
    body = json_of(genmill("generate", "image", "-m", "test/echo-i2i", "--image", "in.png",
                           "--json", *FAST))
    assert body["task"]["status"] == "SUCCESS" and body["task"]["progress"] == 100
    assert body["task"]["model"] == "test/echo-i2i"
    [path] = body["files"]
    assert path == f"genmill-out/{body['task']['task_id']}/echo.png"
    assert Image.open(tmp_path / path).convert("RGB").getpixel((0, 0)) == (1, 2, 3)


@pytest.mark.parametrize("args,message", [
    (["generate", "image", "-p", "x"], "Missing option '--model' / '-m'."),
    (["generate", "imag", "-m", "test/steps-t2i"], "Invalid value for 'kind': 'imag' is not "
                                                    "one of 'image', 'video', '3d'."),
    (["generate", "image", "-m", "test/steps-t2i", "-P", "steps"],
     "--param 'steps': expected key=value"),
    (["generate", "image", "-m", "test/steps-t2i", "-P", "stepz=2"],
     "stepz: unknown parameter; did you mean steps?"),  # the server's 400
    (["generate", "image", "-m", "no/such-model"],
     "model: unknown model 'no/such-model' (see GET /v1/models)"),
    (["tasks", "ls", "--state", "odd"], "--state: must be one of running, success, failed "
                                        "(or 4, 1, -1)"),
])
def test_usage_errors_with_json_are_json(genmill, args, message):
    result = genmill(*args, "--json")
    assert result.returncode == 2, result.stderr
    assert json.loads(result.stdout) == {
        "error": {"kind": "usage", "message": message, "exit_code": 2}}
    assert result.stderr == f"genmill: {message}\n"  # and one line for a person


def test_no_wait_json_names_the_task_and_model(genmill):
    body = json_of(genmill("generate", "image", "-m", "test/steps-t2i", "-p", "x",
                           "--no-wait", "--json"))
    assert body["model"] == "test/steps-t2i" and body["task_id"].startswith("image_")


def test_failed_task_exits_1_with_its_reason(genmill):
    result = genmill("generate", "3d", "-m", "test/steps-text-to-3d", "-p", "x",
                     "-P", "fail=ran out of clay", *FAST)
    assert result.returncode == 1
    assert "failed" in result.stderr and "ran out of clay" in result.stderr
    assert result.stdout == ""
    task_id = result.stderr.splitlines()[0].removeprefix("submitted ")
    watched = genmill("tasks", "watch", task_id, *FAST)
    assert watched.returncode == 1 and "ran out of clay" in watched.stderr


def test_ls_show_watch_open_rm(genmill, tmp_path):
    submitted = genmill("generate", "video", "-m", "test/steps-t2v", "-p", "x", "--no-wait")
    assert submitted.returncode == 0, submitted.stderr
    task_id = submitted.stdout.strip()
    assert task_id.startswith("video_")

    watched = genmill("tasks", "watch", task_id, *FAST)
    assert watched.returncode == 0, watched.stderr
    [url] = watched.stdout.split()
    assert url.endswith(f"/tasks/{task_id}/video-1.png")

    shown = json_of(genmill("tasks", "show", task_id, "--json"))
    assert shown["task_id"] == task_id and shown["model"] == "test/steps-t2v"
    assert shown["status"] == "SUCCESS" and shown["outputs"] == [url]
    text = genmill("tasks", "show", task_id).stdout
    assert f"task:      {task_id}" in text and "status:    SUCCESS" in text

    listed = json_of(genmill("tasks", "ls", "--kind", "video", "--state", "success", "--json"))
    assert task_id in [t["task_id"] for t in listed["tasks"]]
    assert all(t["kind"] == "video" and t["status"] == "SUCCESS" for t in listed["tasks"])
    table = genmill("tasks", "ls", "--page-size", "100")
    assert table.returncode == 0 and task_id in table.stdout and "test/steps-t2v" in table.stdout

    opened = genmill("open", task_id)  # no desktop here: downloads and says where
    assert opened.returncode == 0, opened.stderr
    assert Path(opened.stdout.strip()) == tmp_path / "cache/genmill/outputs" / task_id / \
        "video-1.png"
    assert Path(opened.stdout.strip()).is_file() and "no desktop" in opened.stderr

    removed = genmill("tasks", "rm", task_id)
    assert removed.returncode == 0 and removed.stdout.strip() == f"deleted {task_id}"
    again = genmill("tasks", "show", task_id)
    assert again.returncode == 2 and task_id in again.stderr
    assert genmill("tasks", "rm", task_id).returncode == 2


def test_models_from_the_server(genmill):
    models = json_of(genmill("models", "--json"))
    by_id = {m["id"]: m for m in models}
    assert by_id["test/steps-text-to-3d"]["tag"] == "text-to-3d"
    assert "steps" in by_id["test/steps-text-to-3d"]["params"]["properties"]
    table = genmill("models")
    assert "test/echo-i2i" in table.stdout and "image-to-image" in table.stdout
    # No URL configured: this install's own registry (built-ins and GENMILL_PLUGINS).
    local = genmill("models", "--json", GENMILL_URL="", GENMILL_PLUGINS="tests.engines")
    assert {"test/steps-t2i", "genmill/title-card-t2i"} <= {m["id"] for m in json_of(local)}


def test_unreachable_server_and_wrong_key_exit_3(genmill):
    nowhere = f"http://127.0.0.1:{free_port()}"
    result = genmill("tasks", "ls", "--url", nowhere)
    assert result.returncode == 3 and "unreachable" in result.stderr
    result = genmill("generate", "image", "-m", "test/steps-t2i", "-p", "x",
                     GENMILL_API_KEY="wrong-key")
    assert result.returncode == 3 and "401" in result.stderr and "API key" in result.stderr


def test_usage_errors_exit_2(genmill):
    result = genmill("generate", "image", "-m", "test/steps-t2i", "-P", "steps=many")
    assert result.returncode == 2 and "steps" in result.stderr
    assert genmill("generate", "image", "-m", "test/steps-t2i", "-P", "novalue").returncode == 2
    assert genmill("generate", "4d", "-m", "x").returncode == 2
    result = genmill("generate", "image", "-m", "test/echo-i2i", "-i", "missing.png")
    assert result.returncode == 2 and "missing.png" in result.stderr
    assert genmill("tasks", "ls", "--state", "sleepy").returncode == 2


def test_every_command_has_help_with_an_example(genmill):
    for command in (["generate"], ["tasks", "ls"], ["tasks", "show"], ["tasks", "watch"],
                    ["tasks", "cancel"], ["tasks", "rm"], ["open"], ["models"]):
        result = genmill(*command, "--help")
        assert result.returncode == 0 and "Example:" in result.stdout, command
        assert "Exit codes" in result.stdout, command


def _start_and_interrupt(genmill, tmp_path, *extra: str) -> tuple[str, subprocess.Popen]:
    # A Python child only turns SIGINT into KeyboardInterrupt if SIGINT is not ignored
    # when it starts; a test runner launched in the background may be ignoring it.
    process = subprocess.Popen(
        [sys.executable, "-m", "genmill", "generate", "image", "-m", "test/steps-t2i",
         "-p", "slow", "-P", "steps=200", "-P", "step_ms=50", *FAST, *extra],
        cwd=tmp_path, env=genmill.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    task_id = process.stderr.readline().strip().removeprefix("submitted ")
    assert task_id.startswith("image_"), task_id
    first_update = process.stderr.readline()  # printed by wait()'s on_update: inside wait()
    assert first_update.startswith(task_id), first_update
    process.send_signal(signal.SIGINT)
    return task_id, process


def test_ctrl_c_exits_130_and_names_the_task(genmill, tmp_path):
    task_id, process = _start_and_interrupt(genmill, tmp_path)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 130, err
    assert f"genmill tasks watch {task_id}" in err and "Traceback" not in err
    shown = json_of(genmill("tasks", "show", task_id, "--json"))
    assert shown["status"] in ("QUEUED", "IN_PROGRESS")  # left running
    assert genmill("tasks", "rm", task_id).returncode == 0


def test_ctrl_c_with_cancel_on_interrupt_cancels(genmill, tmp_path):
    task_id, process = _start_and_interrupt(genmill, tmp_path, "--cancel-on-interrupt")
    out, err = process.communicate(timeout=20)
    assert process.returncode == 130 and f"canceled task {task_id}" in err
    result = genmill("tasks", "watch", task_id, "--json", *FAST)
    assert result.returncode == 1
    body = json.loads(result.stdout)
    assert body["task"]["status"] == "FAILURE" and "cancel" in body["task"]["fail_reason"]
