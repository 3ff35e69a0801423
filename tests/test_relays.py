"""Relay engines end to end: a real genmill upstream (its own key) behind a relaying
genmill whose models file has `engine = "siray"` and `engine = "moneyprinter"` entries.

Every client here is a real one (the official siray SDK, httpx); failures come from real
servers (a failing task, a wrong key, a closed port, a per-key limit answering 429)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time

import httpx
import pytest
from siray import Siray

from tests.conftest import KEYS, REPO, LiveServer, free_port, wait_final, wait_for
from tests.relay_helpers import UPSTREAM_KEY, UPSTREAM_KEYS, entry, relaying_server, siray_entry

WRONG_KEY = "not-the-upstream-key-77aa"
IMAGE = "/v1/images/generations/async"


def models_file(upstream: str, limited: str) -> str:
    closed = f"http://127.0.0.1:{free_port()}"
    return "".join([
        siray_entry("relay/steps-t2i", "text-to-image", upstream, "test/steps-t2i"),
        # The load test's: 200 in flight polled every 0.2 s would be 1,000 requests a
        # second; Siray documents 3-5 s.
        siray_entry("relay/many-t2i", "text-to-image", upstream, "test/steps-t2i",
                    poll_interval=1.0),
        siray_entry("relay/steps-t2v", "text-to-video", upstream, "test/steps-t2v"),
        siray_entry("relay/steps-3d", "text-to-3d", upstream, "test/steps-text-to-3d",
                    params={"steps": 2}),
        # The operator's file makes the upstream task fail with a message holding the key
        # (as an upstream that echoes credentials would); no client ever sends it.
        siray_entry("relay/echo-t2i", "text-to-image", upstream, "test/steps-t2i",
                    params={"fail": f"bad key {UPSTREAM_KEY}"}),
        siray_entry("relay/limited-t2i", "text-to-image", limited, "test/steps-t2i"),
        siray_entry("relay/down-t2i", "text-to-image", closed, "test/steps-t2i",
                    upstream_name="down-upstream"),
        entry(id="relay/wrong-key-t2i", engine="siray", mode="text-to-image",
              base_url=upstream, api_key_env="WRONG_KEY", upstream_model="test/steps-t2i",
              poll_interval=0.2),
        entry(id="relay/narrated", engine="moneyprinter", mode="text-to-video",
              base_url=upstream, api_key_env="UPSTREAM_KEY", poll_interval=0.3),
    ])


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    base = tmp_path_factory.mktemp("relays")
    upstream = LiveServer(base / "upstream", keys=UPSTREAM_KEYS).start()
    limited = LiveServer(base / "limited", keys=UPSTREAM_KEYS, workers=1,
                         env={"GENMILL_MAX_PENDING_PER_KEY": "1"}).start()
    path = base / "models.toml"
    path.write_text(models_file(upstream.url, limited.url))
    relay = LiveServer(base / "relay", env={
        "GENMILL_MODELS_FILE": str(path), "UPSTREAM_KEY": UPSTREAM_KEY,
        "WRONG_KEY": WRONG_KEY}).start()
    yield relay, upstream, limited
    for live in (relay, upstream, limited):
        live.stop()


@pytest.fixture(scope="module")
def relay(servers):
    return servers[0]


@pytest.fixture(scope="module")
def upstream(servers):
    return servers[1]


def upstream_tasks(upstream: LiveServer, prompt: str) -> list[dict]:
    """The upstream's tasks whose prompt is `prompt` (each a /v1/tasks/{id} document)."""
    with upstream.client(UPSTREAM_KEY) as client:
        listed = client.get("/api/v1/tasks", params={"page_size": 100}).json()["data"]["tasks"]
        found = [client.get(f"/v1/tasks/{t['task_id']}").json()["data"] for t in listed]
    return [task for task in found if task["params"].get("prompt") == prompt
            or task["params"].get("script") == prompt]


def outputs_bytes(urls: list[str]) -> list[tuple[str, bytes]]:
    return [(url.rsplit("/", 1)[1], httpx.get(url).content) for url in urls]


def assert_same_outputs(relayed: dict, upstream: LiveServer, prompt: str) -> None:
    (original,) = upstream_tasks(upstream, prompt)  # exactly one upstream task
    assert original["status"] == "SUCCESS"
    assert outputs_bytes(relayed["outputs"]) == outputs_bytes(original["outputs"])
    assert all(url.startswith(relayed["outputs"][0].split("/tasks/")[0])
               for url in relayed["outputs"])  # served by the relaying server


def test_image_through_the_siray_sdk_has_the_upstreams_bytes(relay, upstream):
    sdk = Siray(api_key=KEYS["alice"], base_url=relay.url)
    status = sdk.image.run(model="relay/steps-t2i", prompt="sdk lighthouse", n=2, seed=7,
                           steps=4, step_ms=50, poll_interval=0.1, timeout=60)
    assert status.is_completed(), status.fail_reason
    with relay.client() as client:
        relayed = client.get(f"{IMAGE}/{status.task_id}").json()["data"]
    assert len(relayed["outputs"]) == 2 and relayed["outputs"][0].startswith(relay.url)
    assert_same_outputs(relayed, upstream, "sdk lighthouse")


@pytest.mark.parametrize(("model", "path"), [("relay/steps-t2v", "/v1/video/generations"),
                                             ("relay/steps-3d", "/v1/3d/generations")])
def test_video_and_3d_are_relayed_with_the_upstreams_bytes(relay, upstream, model, path):
    prompt = f"relayed {model}"
    with relay.client() as client:
        response = client.post(path, json={"model": model, "prompt": prompt, "seed": 3,
                                           "files": ["extra.bin"], "file_bytes": 50_000})
        assert response.status_code == 200, response.text
        data = wait_final(client, f"{path}/{response.json()['task_id']}", timeout=60)
    assert data["status"] == "SUCCESS", data["fail_reason"]
    assert [url.rsplit("/", 1)[1] for url in data["outputs"]][-1] == "extra.bin"
    assert_same_outputs(data, upstream, prompt)


def test_fixed_params_of_the_entry_reach_the_upstream(relay, upstream):
    with relay.client() as client:
        response = client.post("/v1/3d/generations", json={
            "model": "relay/steps-3d", "prompt": "fixed steps", "steps": 9})
        wait_final(client, f"/v1/3d/generations/{response.json()['task_id']}", timeout=60)
    (original,) = upstream_tasks(upstream, "fixed steps")
    assert original["params"]["steps"] == 2 and original["model"] == "test/steps-text-to-3d"


def test_moneyprinter_relay_runs_on_the_upstreams_local_task_api(relay, upstream):
    script = "Relays carry the work. Outputs come home."
    with relay.client() as client:
        response = client.post("/v1/video/generations", json={
            "model": "relay/narrated", "script": script, "title": "Relay",
            "aspect_ratio": "16:9", "resolution": "480p", "seed": 5})
        assert response.status_code == 200, response.text
        data = wait_final(client, f"/v1/video/generations/{response.json()['task_id']}",
                          timeout=180)
    assert data["status"] == "SUCCESS", data["fail_reason"]
    names = sorted(url.rsplit("/", 1)[1] for url in data["outputs"])
    assert names == ["combined-1.mp4", "final-1.mp4"]
    (original,) = upstream_tasks(upstream, script)
    assert original["model"] == "genmill/narrated-t2v"  # through POST /api/v1/videos
    videos = [url for url in original["outputs"] if url.endswith(".mp4")]  # not audio, captions
    assert dict(outputs_bytes(data["outputs"])) == dict(outputs_bytes(videos))


def submit_and_wait(relay: LiveServer, body: dict, timeout: float = 60) -> dict:
    with relay.client() as client:
        response = client.post(IMAGE, json=body)
        assert response.status_code == 200, response.text
        return wait_final(client, f"{IMAGE}/{response.json()['task_id']}", timeout=timeout)


def test_a_failing_upstream_task_fails_with_its_reason_prefixed(relay, upstream):
    data = submit_and_wait(relay, {"model": "relay/steps-t2i", "prompt": "x",
                                   "fail": "out of ink"})
    assert data["status"] == "FAILURE"
    host = upstream.url.removeprefix("http://")
    assert data["fail_reason"].startswith(f"{host}: ") and "out of ink" in data["fail_reason"]


def test_an_upstream_message_that_echoes_the_key_is_redacted(relay):
    data = submit_and_wait(relay, {"model": "relay/echo-t2i", "prompt": "echo"})
    assert data["status"] == "FAILURE" and UPSTREAM_KEY not in data["fail_reason"]
    assert "bad key [redacted]" in data["fail_reason"]


def test_a_wrong_upstream_key_is_refused(relay):
    data = submit_and_wait(relay, {"model": "relay/wrong-key-t2i", "prompt": "x"})
    assert data["status"] == "FAILURE"
    assert "upstream refused the key (HTTP 401)" in data["fail_reason"]
    assert WRONG_KEY not in data["fail_reason"]


def test_an_upstream_that_is_down_fails_after_bounded_retries(relay):
    data = submit_and_wait(relay, {"model": "relay/down-t2i", "prompt": "x"})
    assert data["status"] == "FAILURE"
    assert data["fail_reason"].startswith("down-upstream: unavailable while submitting")
    assert "gave up after 3 tries" in data["fail_reason"]


def test_429_with_retry_after_is_honoured(relay, servers):
    limited = servers[2]
    with relay.client() as client:
        first = client.post(IMAGE, json={"model": "relay/limited-t2i", "prompt": "limit 1",
                                         "steps": 10, "step_ms": 100}).json()["task_id"]
        # The first must be upstream before the second asks: the upstream allows one.
        wait_for(lambda: upstream_tasks(limited, "limit 1"), timeout=30)
        second = client.post(IMAGE, json={"model": "relay/limited-t2i",
                                          "prompt": "limit 2"}).json()["task_id"]
        results = [wait_final(client, f"{IMAGE}/{task}", timeout=60) for task in (first, second)]
    assert [r["status"] for r in results] == ["SUCCESS", "SUCCESS"], results
    (one,), (two,) = upstream_tasks(limited, "limit 1"), upstream_tasks(limited, "limit 2")
    # genmill's 429 says Retry-After: 5; the relay waited that long before asking again.
    assert two["submit_time"] - one["submit_time"] >= 4
    assert "429" in limited.log()


def test_cancel_propagates_to_the_upstream(relay, upstream):
    with relay.client() as client:
        task = client.post(IMAGE, json={"model": "relay/steps-t2i", "prompt": "cancel me",
                                        "steps": 300, "step_ms": 100}).json()["task_id"]
        original = wait_for(lambda: [t for t in upstream_tasks(upstream, "cancel me")
                                     if t["status"] == "IN_PROGRESS"], timeout=30)[0]
        client.post(f"/v1/tasks/{task}/cancel")
        data = wait_final(client, f"{IMAGE}/{task}", timeout=30)
    assert data["status"] == "FAILURE" and data["fail_reason"] == "canceled"
    with upstream.client(UPSTREAM_KEY) as client:
        ended = wait_final(client, f"{IMAGE}/{original['task_id']}", timeout=30)
    assert ended["status"] == "FAILURE" and ended["fail_reason"] == "canceled"


def test_relayed_tasks_leave_the_cpu_workers_free(relay):
    """200 relayed tasks in flight with two CPU workers: all complete, and a built-in title
    card submitted while they wait on the upstream is taken by a CPU worker at once and
    reaches SUCCESS in under 2 s on a quiet machine."""
    with relay.client() as client:
        def status(task: str) -> str:
            return client.get(f"{IMAGE}/{task}").json()["data"]["status"]

        def processing() -> int:  # the relaying server's tasks in flight (local API)
            return client.get("/api/v1/tasks", params={"state": 4, "page_size": 1}
                              ).json()["data"]["total"]

        def title_card() -> tuple[float, float, str]:
            """Seconds to SUCCESS seen by the client, seconds it waited for a worker
            (the store's own timestamps), its final status."""
            started = time.monotonic()
            task = client.post(IMAGE, json={"model": "genmill/title-card-t2i",
                                            "prompt": "fast"}).json()["task_id"]
            done = wait_final(client, f"{IMAGE}/{task}", timeout=60)
            took = time.monotonic() - started
            with sqlite3.connect(relay.data_dir / "genmill.db") as conn:
                (waited,) = conn.execute("SELECT start_time - submit_time FROM tasks "
                                         "WHERE id = ?", (task,)).fetchone()
            return took, waited, done["status"]

        idle, _, _ = title_card()
        # 200 × 0.2 s on an upstream with two workers: about 20 s to drain, the
        # relay polling each once a second (relay/many-t2i) meanwhile.
        relayed = [client.post(IMAGE, json={"model": "relay/many-t2i", "prompt": f"many {i}",
                                            "steps": 1, "step_ms": 200}).json()["task_id"]
                   for i in range(200)]
        wait_for(lambda: status(relayed[-1]) == "IN_PROGRESS", timeout=30)
        in_flight = processing()
        loaded, waited, card = title_card()
        print(f"title card: {idle:.2f} s idle, {loaded:.2f} s with {in_flight} relayed "
              f"tasks in flight, of which {waited:.2f} s waiting for a worker")
        finals = [wait_final(client, f"{IMAGE}/{task}", timeout=120) for task in relayed]
    assert card == "SUCCESS"
    # More relayed tasks were running than the two CPU workers could have held: the relay
    # runner holds them, and the upstream was still working through them.
    assert in_flight > 100, in_flight
    assert [f["status"] for f in finals] == ["SUCCESS"] * len(relayed)
    # A CPU worker took the card at once: had relays held the workers, it would have waited
    # for the upstream to drain (about 20 s). Its whole time is the bound (2 s)
    # where the machine is quiet enough for the card alone to take under half of that;
    # under a heavy load only the wait, which relays could cause, is held to it.
    assert waited < 2.0, (waited, loaded)
    if idle < 1.0:
        assert loaded < 2.0, (loaded, idle)


def test_no_upstream_key_in_the_logs_or_the_database(relay):
    """Run last in this module: every relayed task above has written its rows and logs."""
    for secret in (UPSTREAM_KEY, WRONG_KEY):
        assert secret not in relay.log_path.read_text(errors="replace")
        for path in relay.data_dir.glob("genmill.db*"):
            assert secret.encode() not in path.read_bytes()


def test_kill_9_mid_task_resumes_the_same_upstream_task(make_server, tmp_path, upstream):
    models = siray_entry("relay/steps-t2i", "text-to-image", upstream.url, "test/steps-t2i")
    first = relaying_server(make_server, tmp_path / "data", models).start()
    with first.client() as client:
        task = client.post(IMAGE, json={"model": "relay/steps-t2i", "prompt": "survivor",
                                        "steps": 30, "step_ms": 100}).json()["task_id"]

    def recorded():
        with sqlite3.connect(first.data_dir / "genmill.db") as conn:
            return conn.execute("SELECT upstream_id FROM relay_jobs WHERE task_id = ?",
                                (task,)).fetchone()

    (upstream_id,) = wait_for(recorded, timeout=30)
    first.stop(signal.SIGKILL)
    second = relaying_server(make_server, tmp_path / "data", models).start()
    with second.client() as client:
        data = wait_final(client, f"{IMAGE}/{task}", timeout=60)
    assert data["status"] == "SUCCESS", data["fail_reason"]
    (original,) = upstream_tasks(upstream, "survivor")  # submitted once, not twice
    assert original["task_id"] == upstream_id
    assert "resumes waiting on" in second.log()


def test_a_models_file_of_relays_loads_without_torch(tmp_path):
    path = tmp_path / "models.toml"
    path.write_text(siray_entry("relay/a", "image-to-image", "http://10.0.0.5:8080", "x/y")
                    + entry(id="relay/b", engine="moneyprinter", mode="text-to-video",
                            base_url="http://127.0.0.1:9"))
    code = ("import sys; from pathlib import Path;"
            "from genmill.engines.models_file import load_models_file;"
            f"specs = load_models_file(Path({str(path)!r}));"
            "assert [s.device for s in specs] == ['relay', 'relay'];"
            "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules;"
            "print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr
    check = subprocess.run([sys.executable, "-m", "genmill", "models", "--check", str(path)],
                           capture_output=True, text=True, cwd=REPO, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


def test_bad_relay_entries_name_the_key(tmp_path):
    from genmill.engines.models_file import ModelsFileError, load_models_file

    path = tmp_path / "models.toml"
    path.write_text(entry(id="relay/a", engine="siray", mode="text-to-image",
                          base_url="ftp://x", api_key_env="K")
                    + entry(id="relay/b", engine="moneyprinter", mode="text-to-image",
                            base_url="http://x", poll_interval=0))
    with pytest.raises(ModelsFileError) as caught:
        load_models_file(path)
    text = str(caught.value)
    assert "models[0].base_url: 'ftp://x' is not an http(s) URL" in text
    assert "models[0].upstream_model: Field required" in text
    assert "models[1].mode: a moneyprinter entry makes text-to-video" in text
    assert "models[1].poll_interval:" in text
