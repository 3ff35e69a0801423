"""Workers under stress: cancel, time limits, killed workers, restarts, many clients."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import KEYS, REPO, wait_final, wait_for

IMAGES = "/v1/images/generations/async"


def submit(client, **body) -> str:
    response = client.post(IMAGES, json={"model": "test/steps-t2i", **body})
    assert response.status_code == 200, response.text
    return response.json()["task_id"]


def status(client, task_id) -> dict:
    return client.get(f"{IMAGES}/{task_id}").json()["data"]


def rows(data_dir, sql: str) -> list[tuple]:
    with sqlite3.connect(data_dir / "genmill.db") as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory):
    from tests.conftest import LiveServer

    live = LiveServer(tmp_path_factory.mktemp("one") / "data", workers=1).start()
    yield live
    live.stop()


def test_cancel_queued_and_running_tasks(one_worker):
    with one_worker.client() as client:
        running = submit(client, steps=100, step_ms=50)
        waiting = submit(client)
        wait_for(lambda: status(client, running)["status"] == "IN_PROGRESS", 10)

        response = client.post(f"/v1/tasks/{waiting}/cancel")
        assert response.status_code == 200
        assert response.json()["data"]["status"] == "FAILURE"  # at once
        assert response.json()["data"]["fail_reason"] == "canceled"

        asked = time.monotonic()
        client.post(f"/v1/tasks/{running}/cancel")
        data = wait_final(client, f"{IMAGES}/{running}", timeout=5)
        assert time.monotonic() - asked < 2.0
        assert (data["status"], data["fail_reason"]) == ("FAILURE", "canceled")
        assert data["finish_time"] >= data["start_time"] > 0
        assert not (one_worker.data_dir / "tasks" / running).exists()


def test_an_engine_that_ignores_cancel_is_stopped_within_two_seconds(one_worker):
    with one_worker.client() as client:
        stubborn = submit(client, steps=200, step_ms=100, ignore_cancel=True)
        # Progress reported: the engine is inside the loop that ignores cancel.
        wait_for(lambda: int(status(client, stubborn)["progress"].rstrip("%")) > 0, 10)
        asked = time.monotonic()
        client.post(f"/v1/tasks/{stubborn}/cancel")
        data = wait_final(client, f"{IMAGES}/{stubborn}", timeout=5)
        assert time.monotonic() - asked < 2.0
        assert data["fail_reason"] == "canceled"
        # The worker started a fresh engine process and carries on.
        after = submit(client)
        assert wait_final(client, f"{IMAGES}/{after}", timeout=20)["status"] == "SUCCESS"


def test_time_limit_ends_a_task(one_worker):
    with one_worker.client() as client:
        response = client.post(IMAGES, json={"model": "test/slow-t2i", "steps": 100,
                                             "step_ms": 100})
        data = wait_final(client, f"{IMAGES}/{response.json()['task_id']}", timeout=10)
        assert (data["status"], data["fail_reason"]) == ("FAILURE", "timed out after 1 s")


def test_kill_9_of_a_worker_mid_task_requeues_and_completes(make_server):
    server = make_server(workers=1).start()
    with server.client() as client:
        task_id = submit(client, steps=20, step_ms=100)
        wait_for(lambda: int(status(client, task_id)["progress"].rstrip("%")) > 0, 15)
        [pid] = server.worker_pids()
        os.kill(pid, signal.SIGKILL)
        # Generous: a new worker process must start (imports, under a loaded machine's
        # scheduling) before the task runs again; how soon it is re-queued is
        # test_faults' concern.
        data = wait_final(client, f"{IMAGES}/{task_id}", timeout=90)
        assert data["status"] == "SUCCESS", data
        [(attempts,)] = rows(server.data_dir, f"SELECT attempts FROM tasks WHERE id='{task_id}'")
        assert attempts == 2
        assert pid not in server.worker_pids()


def test_a_task_whose_workers_keep_dying_fails_with_the_lost_worker_reason(make_server):
    server = make_server(workers=1, env={"GENMILL_MAX_ATTEMPTS": "1"}).start()
    with server.client() as client:
        task_id = submit(client, steps=50, step_ms=100)
        wait_for(lambda: status(client, task_id)["status"] == "IN_PROGRESS", 15)
        os.kill(server.worker_pids()[0], signal.SIGKILL)
        data = wait_final(client, f"{IMAGES}/{task_id}", timeout=60)
        assert data["status"] == "FAILURE" and "worker lost" in data["fail_reason"]


def test_restart_with_queued_and_running_tasks_loses_none(make_server, tmp_path):
    server = make_server(workers=1).start()
    with server.client() as client:
        ids = [submit(client, steps=10, step_ms=100) for _ in range(3)]
        wait_for(lambda: status(client, ids[0])["status"] == "IN_PROGRESS", 15)
    assert server.stop(signal.SIGTERM) == 0
    states = dict(rows(server.data_dir, "SELECT id, status FROM tasks"))
    assert [states[i] for i in ids] == ["QUEUED", "QUEUED", "QUEUED"]  # the running one too
    assert not list((server.data_dir / "staging").iterdir())

    again = make_server(workers=1, data_dir=server.data_dir).start()
    with again.client() as client:
        for task_id in ids:
            assert wait_final(client, f"{IMAGES}/{task_id}", timeout=30)["status"] == "SUCCESS"


def test_sigint_stops_everything_cleanly(make_server):
    server = make_server(workers=2).start()
    pids = server.worker_pids()
    assert server.stop(signal.SIGINT) == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_200_submissions_from_20_threads_all_succeed_once(make_server):
    server = make_server(workers=2).start()

    def one(_: int) -> str:
        with server.client() as client:
            return submit(client, steps=1, step_ms=0)

    with ThreadPoolExecutor(20) as pool:
        ids = list(pool.map(one, range(200)))
    assert len(set(ids)) == 200
    with server.client() as client:
        def all_done():
            done = rows(server.data_dir, "SELECT count(*) FROM tasks WHERE status='SUCCESS'")
            return done[0][0] == 200
        wait_for(all_done, 120, 0.5)
        assert all(status(client, i)["status"] == "SUCCESS" for i in ids[:20])
    attempts = rows(server.data_dir, "SELECT attempts, count(*) FROM tasks GROUP BY attempts")
    assert attempts == [(1, 200)]  # every task claimed exactly once


def test_open_mode_on_loopback_needs_no_key(make_server):
    server = make_server(workers=1, keys={}).start()
    with httpx.Client(base_url=server.url) as client:
        task_id = submit(client)
        assert wait_final(client, f"{IMAGES}/{task_id}")["status"] == "SUCCESS"


def test_serve_refuses_a_public_address_without_keys(tmp_path):
    env = {**os.environ, "GENMILL_API_KEYS": "", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "genmill", "serve", "--host", "0.0.0.0", "--port", "8080",
         "--data-dir", str(tmp_path)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "GENMILL_API_KEYS" in result.stderr and "0.0.0.0" in result.stderr


def test_server_on_postgresql(make_server, postgres_url):
    server = make_server(workers=2, env={"GENMILL_DATABASE_URL": postgres_url}).start()
    with server.client() as client:
        ids = [submit(client, steps=2, step_ms=20, n=2) for _ in range(6)]
        for task_id in ids:
            data = wait_final(client, f"{IMAGES}/{task_id}")
            assert data["status"] == "SUCCESS" and len(data["outputs"]) == 2
        stubborn = submit(client, steps=100, step_ms=100, ignore_cancel=True)
        wait_for(lambda: status(client, stubborn)["status"] == "IN_PROGRESS", 10)
        client.post(f"/v1/tasks/{stubborn}/cancel")
        assert wait_final(client, f"{IMAGES}/{stubborn}", 5)["fail_reason"] == "canceled"


def test_a_key_over_its_pending_limit_gets_429_with_retry_after(make_server):
    server = make_server(workers=1, env={"GENMILL_MAX_PENDING_PER_KEY": "2"}).start()
    with server.client() as client:
        first = [submit(client, steps=40, step_ms=50) for _ in range(2)]
        refused = client.post(IMAGES, json={"model": "test/steps-t2i"})
        assert refused.status_code == 429 and refused.headers["retry-after"] == "5"
        assert refused.json()["error"]["type"] == "rate_limit_error"
        with server.client(KEYS["bob"]) as bob:  # the limit is per key
            assert bob.post(IMAGES, json={"model": "test/steps-t2i"}).status_code == 200
        client.post(f"/v1/tasks/{first[1]}/cancel")  # queued (one worker): ends at once
        assert client.post(IMAGES, json={"model": "test/steps-t2i"}).status_code == 200


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_pending_limit_holds_under_40_concurrent_submits(make_server, request, database):
    """The count and the insert are one step: racing submits cannot all see room."""
    env = {"GENMILL_MAX_PENDING_PER_KEY": "3"}
    if database == "postgresql":
        env["GENMILL_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    server = make_server(workers=0, env=env).start(wait_ready=False)  # all stay QUEUED
    start = threading.Barrier(40)

    def one(_: int) -> httpx.Response:
        with server.client() as client:
            client.get("/healthz")  # connected before the race starts
            start.wait()
            return client.post(IMAGES, json={"model": "test/steps-t2i"})

    with ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(one, range(40)))
    codes = [answer.status_code for answer in answers]
    assert (codes.count(200), codes.count(429)) == (3, 37), codes
    assert all(a.headers["retry-after"] == "5" for a in answers if a.status_code == 429)
    with server.client() as client:
        assert client.get("/api/v1/tasks").json()["data"]["total"] == 3


def test_json_logs_carry_the_task_id(make_server):
    import json

    server = make_server(workers=1, env={"GENMILL_LOG_JSON": "1"}).start()
    with server.client() as client:
        task_id = submit(client)
        wait_final(client, f"{IMAGES}/{task_id}")
    server.stop()
    lines = [json.loads(line) for line in server.log_path.read_text().splitlines()
             if line.startswith("{")]
    about = [line for line in lines if line.get("task_id") == task_id]
    messages = " | ".join(line["message"] for line in about)
    for word in ("QUEUED", "IN_PROGRESS", "SUCCESS"):
        assert f"{task_id} {word}" in messages, word
    assert any(line.get("method") == "GET" and line.get("status") == 200 for line in about)


def test_public_url_and_model_aliases(make_server):
    server = make_server(workers=1, env={
        "GENMILL_PUBLIC_URL": "https://media.example.com/",
        "GENMILL_MODEL_ALIASES": "black-forest-labs/flux-1.1-pro=test/steps-t2i",
    }).start()
    with server.client() as client:
        response = client.post(IMAGES, json={"model": "black-forest-labs/flux-1.1-pro"})
        data = wait_final(client, f"{IMAGES}/{response.json()['task_id']}")
        assert data["outputs"][0].startswith("https://media.example.com/tasks/")
        local = client.get(f"/api/v1/tasks/{data['task_id']}").json()["data"]
        assert local["model"] == "test/steps-t2i"


def test_models_command_lists_registered_models():
    env = {**os.environ, "PYTHONPATH": str(REPO), "GENMILL_PLUGINS": "tests.engines",
           "GENMILL_MODEL_ALIASES": "vendor/x=test/steps-t2i", "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "genmill", "models"], env=env,
                            capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "test/steps-t2i" in result.stdout and "text-to-image" in result.stdout
    assert "vendor/x" in result.stdout


def test_separate_worker_process_against_the_same_database(make_server, tmp_path):
    server = make_server(workers=0).start(wait_ready=False)
    assert httpx.get(server.url + "/readyz").status_code == 503  # no worker yet
    with server.client() as client:
        task_id = submit(client)
        assert server.worker_pids() == []  # no worker registered, so nothing can claim it
        assert status(client, task_id)["status"] == "QUEUED"
        worker = subprocess.Popen(
            [sys.executable, "-m", "genmill", "worker", "--workers", "1",
             "--data-dir", str(server.data_dir)],
            env=server.env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert wait_final(client, f"{IMAGES}/{task_id}", timeout=60)["status"] == "SUCCESS"
            wait_for(lambda: httpx.get(server.url + "/readyz").status_code == 200, 15)
        finally:
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(30) == 0


def test_uvicorn_also_serves_the_app(make_server):
    server = make_server(workers=1, env={"GENMILL_SERVER": "uvicorn"}).start()
    with server.client() as client:
        task_id = submit(client)
        data = wait_final(client, f"{IMAGES}/{task_id}")
        assert data["status"] == "SUCCESS"
        assert httpx.get(data["outputs"][0], headers={"Range": "bytes=0-3"}).content == \
            b"\x89PNG"


_RANK = {"QUEUED": 0, "IN_PROGRESS": 1, "SUCCESS": 2, "FAILURE": 2}


def _stage(data: dict) -> tuple[int, int]:
    """How far a task has come (status, then progress): with no worker lost, it never
    goes back, so no poll may show a smaller stage than one shown before."""
    return _RANK[data["status"]], int(data["progress"].rstrip("%"))


def test_two_servers_on_one_database_never_show_a_stale_status(make_server):
    """Each server process remembers the statuses it read (SQLite): a write made through
    the other process or its workers must show on the very next poll, so polls through
    A and B in turn never show a status older than one either has already shown."""
    a = make_server(workers=1).start()
    b = make_server(workers=0, data_dir=a.data_dir).start(wait_ready=False)
    with a.client() as via_a, b.client() as via_b:
        task_id = submit(via_a, steps=20, step_ms=100)
        newest, progress_seen_by_b, deadline = None, set(), time.monotonic() + 30
        data: dict = {}
        while data.get("status") != "SUCCESS":
            assert time.monotonic() < deadline, f"still not done: {data}"
            for name, client in (("A", via_a), ("B", via_b)):
                data = status(client, task_id)
                assert newest is None or _stage(data) >= newest[0], (
                    f"{name} shows {data} after {newest[1]}")
                newest = _stage(data), data
            progress_seen_by_b.add(data["progress"])
            time.sleep(0.02)  # the pace of polling, not a wait for an outcome
        assert len(progress_seen_by_b) >= 3  # B followed the worker of A, not a frozen copy
        for _ in range(3):  # both now remember the final status (URLs name each server)
            seen_by_a = status(via_a, task_id)
            assert seen_by_a["outputs"] == [u.replace(b.url, a.url) for u in data["outputs"]]
            assert {**seen_by_a, "outputs": None} == {**status(via_b, task_id), "outputs": None}
        assert via_b.delete(f"/api/v1/tasks/{task_id}").status_code == 200
        assert via_a.get(f"{IMAGES}/{task_id}").status_code == 404
