"""Webhooks end to end: real `genmill serve` processes deliver to real receivers on
loopback ports, and the signatures are checked with the `standardwebhooks` package."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from genmill.core.inputs import is_public_address
from genmill.domain import Kind, Status, Task, new_task_id
from genmill.store.connector import Database
from genmill.store.schema import webhook_deliveries
from genmill.store.tasks import TaskStore
from genmill.store.webhooks import WebhookSettings, claim, of_task
from tests.conftest import KEYS, REPO, LiveServer, wait_final, wait_for

IMAGES = "/v1/images/generations/async"
SECRET = "whsec_" + base64.b64encode(b"alice and everyone else 32 bytes").decode()
BOB_SECRET = "whsec_" + base64.b64encode(b"bob's very own secret of 32 bytes").decode()
FAST_RETRIES = {"GENMILL_WEBHOOK_SECRET": SECRET, "GENMILL_WEBHOOK_SECRETS": f"bob:{BOB_SECRET}",
                "GENMILL_WEBHOOK_RETRY_SCHEDULE": "0,0.2,0.2"}


class Receiver:
    """An HTTP server on a loopback port that records each webhook request and answers
    with the next of `answers` (then `default`); "hang" holds the request open."""

    def __init__(self, answers: list[int | str] | None = None, default: int | str = 200):
        self.answers, self.default = list(answers or []), default
        self.requests: list[dict] = []
        self.open_requests = 0
        self.released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (the http.server API)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with lock:
                    receiver.requests.append({"headers": dict(self.headers), "body": body,
                                              "at": time.time()})
                    answer = receiver.answers.pop(0) if receiver.answers else receiver.default
                if answer == "hang":
                    with lock:
                        receiver.open_requests += 1
                    receiver.released.wait(120)
                    with lock:
                        receiver.open_requests -= 1
                    answer = 503
                self.send_response(int(answer))
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(*args, **kwargs) -> Receiver:
        made.append(Receiver(*args, **kwargs))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture(scope="module")
def hooks(tmp_path_factory):
    """A server whose webhooks may reach loopback (the receivers), retrying fast."""
    live = LiveServer(tmp_path_factory.mktemp("hooks") / "data", workers=2, env={
        **FAST_RETRIES, "GENMILL_ALLOW_PRIVATE_WEBHOOKS": "1"}).start()
    yield live
    live.stop()


def submit(client, **fields) -> str:
    body = {"model": "test/steps-t2i", "prompt": "hook", "steps": 1, **fields}
    answer = client.post(IMAGES, json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()["task_id"]


def test_completed_event_is_signed_and_carries_the_status_document(hooks, receiver):
    target = receiver()
    with hooks.client() as alice, hooks.client(KEYS["bob"]) as bob:
        task_id = submit(alice, webhook=target.url)
        final = wait_final(alice, f"{IMAGES}/{task_id}")
        wait_for(lambda: target.requests, 15)
        request = target.requests[0]
        payload = Webhook(SECRET).verify(request["body"], request["headers"])
        assert payload["type"] == "task.completed"
        assert payload["timestamp"].endswith("Z")
        assert payload["data"] == final  # the status document's data, output URLs too
        with pytest.raises(Exception):  # noqa: B017 (any verification error)
            Webhook(BOB_SECRET).verify(request["body"], request["headers"])

        resource = alice.get(f"/v1/tasks/{task_id}").json()["data"]
        assert resource["webhook"] == target.url
        assert resource["webhook_events_filter"] == ["completed"]
        deliveries = wait_for(lambda: [
            d for d in alice.get(f"/v1/tasks/{task_id}/webhooks").json()["data"]
            if d["state"] == "delivered"], 10)
        assert deliveries[0]["webhook_id"] == request["headers"]["webhook-id"]
        assert deliveries[0]["attempts"] == 1 and deliveries[0]["last_status_code"] == 200
        assert bob.get(f"/v1/tasks/{task_id}/webhooks").status_code == 404

        # A key with its own secret: its events are signed with that one.
        bobs = submit(bob, webhook=target.url)
        wait_for(lambda: len(target.requests) == 2, 15)
        assert Webhook(BOB_SECRET).verify(target.requests[1]["body"],
                                          target.requests[1]["headers"])["data"]["task_id"] \
            == bobs
        no_hook = alice.get(f"/v1/tasks/{submit(alice)}").json()["data"]
        assert no_hook["webhook"] is None and no_hook["webhook_events_filter"] is None


def test_failed_attempts_are_retried_with_the_same_webhook_id(hooks, receiver):
    target = receiver(answers=[500, 500], default=200)
    with hooks.client() as alice:
        task_id = submit(alice, webhook=target.url)
        wait_for(lambda: len(target.requests) >= 3, 20)
        time.sleep(0.5)  # nothing more comes after the 2xx
        assert len(target.requests) == 3
        assert len({r["headers"]["webhook-id"] for r in target.requests}) == 1
        for request in target.requests:
            Webhook(SECRET).verify(request["body"], request["headers"])
        delivery = wait_for(lambda: [
            d for d in alice.get(f"/v1/tasks/{task_id}/webhooks").json()["data"]
            if d["state"] == "delivered"], 10)[0]
        assert delivery["attempts"] == 3 and delivery["last_status_code"] == 200

        gone = receiver(default=410)  # and credentials in the URL go as Basic auth
        gone_task = submit(alice, webhook=gone.url.replace("//", "//hook:s%40cret@"))
        record = wait_for(lambda: [
            d for d in alice.get(f"/v1/tasks/{gone_task}/webhooks").json()["data"]
            if d["state"] == "gone"], 15)[0]
        assert record["attempts"] == 1 and record["next_attempt_time"] is None
        assert len(gone.requests) == 1
        assert gone.requests[0]["headers"]["Authorization"] == \
            "Basic " + base64.b64encode(b"hook:s@cret").decode()


def test_event_filter_sends_started_and_progress_too(hooks, receiver):
    target = receiver()
    with hooks.client() as alice:
        task_id = submit(alice, webhook=target.url, steps=3, step_ms=600,
                         webhook_events_filter=["start", "progress", "completed"])
        wait_final(alice, f"{IMAGES}/{task_id}")
        wait_for(lambda: any(b["type"] == "task.completed" for b in target.bodies()), 15)
        # Each is sent as soon as it is due, so arrival order is not promised; their
        # timestamps say when each happened.
        events = sorted(target.bodies(), key=lambda b: b["timestamp"])
        assert [b["type"] for b in events if b["type"] != "task.progress"] == \
            ["task.started", "task.completed"]
        assert events[0]["type"] == "task.started"
        progress = [b for b in events if b["type"] == "task.progress"]
        assert progress and all(b["data"]["status"] == "IN_PROGRESS" for b in progress)
        assert [b["data"]["progress"] for b in progress] == sorted(
            (b["data"]["progress"] for b in progress), key=lambda p: int(p[:-1]))
        assert alice.get(f"/v1/tasks/{task_id}").json()["data"]["webhook_events_filter"] == \
            ["start", "progress", "completed"]


def test_client_and_cli_send_the_webhook(hooks, receiver, tmp_path):
    from genmill.client import Client

    target = receiver()
    with Client(hooks.url, api_key=KEYS["alice"]) as gm:
        task_id = gm.submit("image", "test/steps-t2i", "from the client", steps=1,
                            webhook=target.url, webhook_events_filter=["start", "completed"])
    env = {**os.environ, "PYTHONPATH": str(REPO), "GENMILL_URL": hooks.url,
           "GENMILL_API_KEY": KEYS["alice"]}
    cli = subprocess.run([sys.executable, "-m", "genmill", "generate", "image", "-m",
                          "test/steps-t2i", "-p", "from the CLI", "-P", "steps=1", "--no-wait",
                          "--webhook", target.url], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    wait_for(lambda: {(b["data"]["task_id"], b["type"]) for b in target.bodies()} >= {
        (task_id, "task.started"), (task_id, "task.completed"),
        (cli.stdout.strip(), "task.completed")}, 20)


def test_a_hanging_receiver_delays_neither_tasks_nor_other_receivers(hooks, receiver):
    hanging, quick = receiver(default="hang"), receiver()
    with hooks.client() as alice:
        stuck = [submit(alice, webhook=hanging.url) for _ in range(6)]  # more than its slots
        wait_for(lambda: hanging.open_requests >= 4, 20)
        task_id = submit(alice, webhook=quick.url)
        wait_for(lambda: quick.requests, 15)
        assert hanging.open_requests >= 4  # still held: the quick one did not wait for them
        assert wait_final(alice, f"{IMAGES}/{task_id}")["status"] == "SUCCESS"
        for other in stuck:
            assert wait_final(alice, f"{IMAGES}/{other}")["status"] == "SUCCESS"


def test_both_dialects_take_the_fields_and_refuse_bad_values(hooks, receiver):
    target = receiver()
    with hooks.client() as alice:
        local = alice.post("/api/v1/videos", json={
            "video_script": "One line.", "webhook": target.url,
            "webhook_events_filter": ["completed"]})
        assert local.status_code == 200, local.text
        task_id = local.json()["data"]["task_id"]
        assert alice.get(f"/v1/tasks/{task_id}").json()["data"]["webhook"] == target.url
        alice.post(f"/api/v1/tasks/{task_id}/cancel")
        wait_for(lambda: target.requests, 20)
        assert target.bodies()[0]["data"]["task_id"] == task_id

        bad = [({"webhook": "ftp://example.com/x"}, "webhook"),
               ({"webhook": 5}, "webhook"),
               ({"webhook": "http://exa mple.com/"}, "webhook"),
               ({"webhook": target.url, "webhook_events_filter": ["done"]},
                "webhook_events_filter"),
               ({"webhook": target.url, "webhook_events_filter": "completed"},
                "webhook_events_filter"),
               ({"webhook_events_filter": ["completed"]}, "webhook_events_filter")]
        for fields, field in bad:
            siray = alice.post(IMAGES, json={"model": "test/steps-t2i", "prompt": "x",
                                             **fields})
            assert siray.status_code == 400, fields
            assert siray.json()["error"]["message"].startswith(field + ":"), siray.text
            local = alice.post("/api/v1/videos", json={"video_script": "x", **fields})
            assert local.status_code == 400, fields
            assert local.json()["message"].startswith(field + ":"), local.text


def test_a_private_target_is_refused_without_the_setting(make_server, receiver):
    target = receiver()
    live = make_server(env={"GENMILL_WEBHOOK_SECRET": SECRET}, workers=1).start()
    with live.client() as alice:
        refused = alice.post(IMAGES, json={"model": "test/steps-t2i", "prompt": "x",
                                           "webhook": target.url})
        assert refused.status_code == 400
        assert refused.json()["error"]["message"].startswith("webhook:")
        # A name that resolves to a private address passes the form check at submit; the
        # delivery is refused, with its reason, and the task is not affected.
        name = socket.gethostname()
        addresses = {info[4][0] for info in socket.getaddrinfo(name, target.port)}
        if any(is_public_address(a) for a in addresses):
            pytest.skip(f"{name} resolves to a public address here")
        task_id = submit(alice, webhook=f"http://{name}:{target.port}/hook")
        assert wait_final(alice, f"{IMAGES}/{task_id}")["status"] == "SUCCESS"
        record = wait_for(lambda: alice.get(f"/v1/tasks/{task_id}/webhooks").json()["data"],
                          10)[0]
        wait_for(lambda: alice.get(f"/v1/tasks/{task_id}/webhooks").json()["data"][0]
                 ["state"] == "refused", 10)
        record = alice.get(f"/v1/tasks/{task_id}/webhooks").json()["data"][0]
        assert "private" in record["last_error"]
    assert not target.requests
    assert SECRET not in live.log_path.read_text()


def test_a_restarted_server_still_delivers(make_server, receiver):
    target = receiver(answers=[500], default=200)
    env = {"GENMILL_WEBHOOK_SECRET": SECRET, "GENMILL_ALLOW_PRIVATE_WEBHOOKS": "1",
           "GENMILL_WEBHOOK_RETRY_SCHEDULE": "0,4"}
    live = make_server(env=env, workers=1).start()
    with live.client() as alice:
        task_id = submit(alice, webhook=target.url)
        wait_for(lambda: target.requests, 15)
    live.stop()
    assert len(target.requests) == 1
    again = make_server(env=env, workers=0).start()  # the supervisor alone delivers
    with again.client() as alice:
        wait_for(lambda: len(target.requests) == 2, 20)
        first, second = target.requests
        assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
        Webhook(SECRET).verify(second["body"], second["headers"])
        delivery = wait_for(lambda: [
            d for d in alice.get(f"/v1/tasks/{task_id}/webhooks").json()["data"]
            if d["state"] == "delivered"], 10)[0]
        assert delivery["attempts"] == 2


# -- the outbox itself, on both databases ------------------------------------------------

def _task(owner: str = "alice") -> Task:
    return Task(id=new_task_id(Kind.IMAGE), kind=Kind.IMAGE, action=Kind.IMAGE.action,
                model="m", owner=owner, status=Status.QUEUED, params={},
                submit_time=time.time(), max_attempts=2, time_limit=30)


def test_outbox_rows_come_from_the_changing_transaction(database_url):
    db = Database(database_url)
    db.migrate()
    store = TaskStore(db)
    hook = WebhookSettings("http://r.example/h", "r.example:80",
                           ("start", "progress", "completed"), "http://api")
    task, plain = _task(), _task()
    store.insert(task, webhook=hook)
    store.insert(plain)
    claimed = store.claim("w1", 30)
    assert claimed.id == task.id
    for progress in (10, 20, 30):  # within half a second: one progress event
        store.set_progress(task.id, "w1", progress, "")
    store.finish(task.id, "w1", Status.SUCCESS, ["image-1.png"])
    store.claim("w1", 30)
    store.finish(plain.id, "w1", Status.SUCCESS, ["image-1.png"])
    events = [d["type"] for d in of_task(db, task.id)]
    assert events == ["task.started", "task.progress", "task.completed"]
    assert of_task(db, plain.id) == []

    # Two deliverers never lease the same row; a receiver's free slots cap a claim; a
    # progress event is dropped once a later event of its task is due.
    first = claim(db, "a", 30, {}, 1, 10)
    second = claim(db, "b", 30, {}, 1, 10)
    assert [d.event for d in first + second] == ["task.started", "task.completed"]
    assert second[0].outputs == ["image-1.png"]
    assert claim(db, "c", 30, {}, 1, 10) == []
    assert [d["state"] for d in of_task(db, task.id)] == ["pending", "dropped", "pending"]

    store.delete(task.id)  # deliveries go with their task
    with db.read() as conn:
        assert conn.execute(select(webhook_deliveries.c.seq)).all() == []
    db.dispose()
