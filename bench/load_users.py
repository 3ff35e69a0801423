"""The locust users of bench/load.py (run by it; settings come in GENMILL_LOAD_*).

- `Poller`: submits one task, then polls it every 1-5 s (`GET /v1/images/.../{id}`).
- `Streamer`: submits one task and follows it through `GET /v1/tasks/{id}/events` to its
  end; then every 1-5 s opens the stream again (a replay that ends at once).
- `Submitter`: one submit per second each (`GENMILL_LOAD_SUBMITTERS` of them make the
  submit rate); a tenth ask for a webhook to the bench's receiver.

Each submit carries an Idempotency-Key and is recorded under one name, so the report
reads per route."""

from __future__ import annotations

import os
import random
import secrets

from locust import FastHttpUser, between, constant_throughput, task

KEY = os.environ.get("GENMILL_LOAD_KEY", "")
WEBHOOK = os.environ.get("GENMILL_LOAD_WEBHOOK", "")
IMAGES = "/v1/images/generations/async"
BODY = {"model": "test/steps-t2i", "prompt": "load", "steps": 1, "step_ms": 10}
HEADERS = {"Authorization": f"Bearer {KEY}"}


def submit(user, webhook_share: float = 0.0) -> str | None:
    body = dict(BODY)
    if WEBHOOK and random.random() < webhook_share:
        body["webhook"] = WEBHOOK
    with user.client.post(IMAGES, json=body, name="POST submit", catch_response=True,
                          headers={**HEADERS, "Idempotency-Key": secrets.token_hex(8)}) as r:
        if r.status_code != 200:
            r.failure(f"HTTP {r.status_code}")
            return None
        return r.json()["task_id"]


class Poller(FastHttpUser):
    weight = int(os.environ.get("GENMILL_LOAD_POLLERS", "9"))
    wait_time = between(1, 5)
    task_id: str | None = None

    @task
    def poll(self) -> None:
        if self.task_id is None:
            self.task_id = submit(self)
            return
        self.client.get(f"{IMAGES}/{self.task_id}", name="GET status", headers=HEADERS)


class Streamer(FastHttpUser):
    weight = int(os.environ.get("GENMILL_LOAD_STREAMERS", "1"))
    wait_time = between(1, 5)
    network_timeout = 600.0  # a queued task's stream stays open until it has run
    task_id: str | None = None

    @task
    def follow(self) -> None:
        if self.task_id is None:
            self.task_id = submit(self)
            if self.task_id is None:
                return
        # The whole stream is one request: it ends after the task's final event.
        with self.client.get(f"/v1/tasks/{self.task_id}/events", name="GET events stream",
                             headers={**HEADERS, "Accept": "text/event-stream"},
                             catch_response=True) as r:
            if r.status_code != 200 or b"event: status" not in (r.content or b""):
                r.failure(f"HTTP {r.status_code}, {len(r.content or b'')} bytes")


class Submitter(FastHttpUser):
    fixed_count = int(os.environ.get("GENMILL_LOAD_SUBMITTERS", "1"))
    wait_time = constant_throughput(1)

    @task
    def submit(self) -> None:
        submit(self, webhook_share=0.1)
