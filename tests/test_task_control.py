"""Idempotent submit, the task resource, queue positions and the local cancel, over HTTP."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import KEYS, LiveServer
from tests.test_events import read_events
from tests.test_lifecycle import wait_for

IMAGES = "/v1/images/generations/async"


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory):
    live = LiveServer(tmp_path_factory.mktemp("control") / "data", workers=1).start()
    yield live
    live.stop()


def test_twenty_concurrent_submits_with_one_idempotency_key_make_one_task(one_worker):
    body = {"model": "test/steps-t2i", "prompt": "once", "steps": 1}
    with one_worker.client() as client:
        before = client.get("/api/v1/tasks").json()["data"]["total"]

        def post(_):
            return client.post(IMAGES, json=body, headers={"Idempotency-Key": "batch-7"})

        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(post, range(20)))
        assert {a.status_code for a in answers} == {200}
        assert len({a.json()["task_id"] for a in answers}) == 1
        assert client.get("/api/v1/tasks").json()["data"]["total"] == before + 1
        other = client.post(IMAGES, json={**body, "prompt": "twice"},
                            headers={"Idempotency-Key": "batch-7"})
        assert other.status_code == 409
        refusal = other.json()
        assert refusal["data"] is None and refusal["error"]["type"] == "conflict_error"
        assert refusal["message"].startswith("Idempotency-Key:")
        bad = client.post(IMAGES, json=body, headers={"Idempotency-Key": "x" * 300})
        assert bad.status_code == 400 and bad.json()["message"].startswith("Idempotency-Key:")


def test_queue_positions_the_task_resource_and_the_local_cancel(one_worker):
    with one_worker.client() as client, one_worker.client(KEYS["bob"]) as bob:
        def submit(**body) -> str:
            answer = client.post(IMAGES, json={"model": "test/steps-t2i", **body})
            assert answer.status_code == 200, answer.text
            return answer.json()["task_id"]

        blocker = submit(steps=400, step_ms=50, ignore_cancel=False)
        wait_for(lambda: client.get(f"/v1/tasks/{blocker}").json()["data"]["status"] ==
                 "IN_PROGRESS", 30)
        first, second, urgent = submit(), submit(), submit(priority=5)
        resource = {t: client.get(f"/v1/tasks/{t}").json()["data"]
                    for t in (blocker, first, second, urgent)}
        assert [resource[t]["queue_position"] for t in (urgent, first, second)] == [0, 1, 2]
        running = resource[blocker]
        assert running["queue_position"] is None and running["status"] == "IN_PROGRESS"
        assert running["model"] == "test/steps-t2i" and running["params"]["steps"] == 400
        assert running["attempts"] == 1 and resource[urgent]["priority"] == 5
        local = client.get(f"/api/v1/tasks/{second}").json()["data"]
        assert local["queue_position"] == 2 and local["state"] == 4
        listed = {t["task_id"]: t["queue_position"]
                  for t in client.get("/api/v1/tasks?page_size=100").json()["data"]["tasks"]}
        assert listed[urgent] == 0 and listed[blocker] is None
        events, _ = read_events(client, f"/v1/tasks/{first}/events", stop_after=1)
        assert events[0]["data"]["status"] == "QUEUED"
        assert events[0]["data"]["queue_position"] == 1

        assert bob.get(f"/v1/tasks/{first}").status_code == 404
        refused = bob.post(f"/api/v1/tasks/{first}/cancel")
        assert refused.status_code == 404 and set(refused.json()) == {"status", "message",
                                                                      "data"}
        canceled = client.post(f"/api/v1/tasks/{urgent}/cancel").json()["data"]
        assert canceled["state"] == -1 and canceled["fail_reason"] == "canceled"
        assert client.get(f"/v1/tasks/{first}").json()["data"]["queue_position"] == 0
        for task_id in (blocker, first, second):
            assert client.post(f"/api/v1/tasks/{task_id}/cancel").status_code == 200
        wait_for(lambda: client.get(f"/v1/tasks/{blocker}").json()["data"]["status"] ==
                 "FAILURE", 30)


def test_prefer_wait_answers_a_fast_task_with_its_outputs(one_worker):
    with one_worker.client() as client:
        answer = client.post(IMAGES, json={"model": "test/steps-t2i", "steps": 2},
                             headers={"Prefer": "wait=10"})
        assert answer.status_code == 200 and answer.headers["Preference-Applied"] == "wait=10"
        body = answer.json()
        data = body["data"]
        assert body["task_id"] == data["task_id"] and data["status"] == "SUCCESS"
        assert data["outputs"] and client.get(data["outputs"][0]).content[:4] == b"\x89PNG"
        assert data == client.get(f"{IMAGES}/{data['task_id']}").json()["data"]
        plain = client.post(IMAGES, json={"model": "test/steps-t2i", "steps": 1})
        assert "Preference-Applied" not in plain.headers
        assert plain.json()["data"] == {"task_id": plain.json()["task_id"]}


def test_deadlines_end_running_and_waiting_tasks(one_worker):
    with one_worker.client() as client:
        running = client.post(IMAGES, json={"model": "test/steps-t2i", "steps": 400,
                                            "step_ms": 50},
                              headers={"Cancel-After": "2s"}).json()["task_id"]
        wait_for(lambda: client.get(f"{IMAGES}/{running}").json()["data"]["status"] ==
                 "IN_PROGRESS", 30)
        # Behind the running task on the one worker; its deadline comes first. The
        # answer waits for the end (Prefer: wait), which the deadline brings.
        deadline = client.get(f"/v1/tasks/{running}").json()["data"]["deadline"]
        waiting = client.post(IMAGES, json={"model": "test/steps-t2i", "deadline": deadline - 1},
                              headers={"Prefer": "wait=30"}).json()["data"]
        assert waiting["status"] == "FAILURE" and waiting["fail_reason"] == "deadline exceeded"
        assert waiting["start_time"] == 0  # it never ran
        ended = wait_for(lambda: (d := client.get(f"{IMAGES}/{running}").json()["data"])
                         ["status"] == "FAILURE" and d, 30)
        assert ended["fail_reason"] == "deadline exceeded"
        for header, value in (("Cancel-After", "soon"), ("Cancel-After", "0"),
                              ("Cancel-After", "8d")):
            refused = client.post(IMAGES, json={"model": "test/steps-t2i"},
                                  headers={header: value})
            assert refused.status_code == 400
            assert refused.json()["message"].startswith("Cancel-After:")
        past = client.post(IMAGES, json={"model": "test/steps-t2i", "deadline": 1})
        assert past.status_code == 400 and past.json()["message"].startswith("deadline:")
