"""The locust users of bench/load.py (run by it; settings come in GENMILL_LOAD_*).

- `Poller`: submits one task, then polls it every 1-5 s (`GET /v1/images/.../{id}`).
- `Streamer`: submits one task and follows it through `GET /v1/tasks/{id}/events` to its
  end; then every 1-5 s opens the stream again (a replay that ends at once).
- `Submitter`: one submit per second each (`GENMILL_LOAD_SUBMITTERS` of them make the
  submit rate); a tenth ask for a webhook to the bench's receiver.

Each submit carries an Idempotency-Key and is recorded under one name, so the report
reads per route. The users behave as careful clients, so that a fault costs no task: a
submit that is not answered 200 is sent again with the same key and body on the user's
next turn (never a new task in its place), and a user whose API refuses connections
moves to the next one in GENMILL_LOAD_HOSTS. What the bench counts comes back in files:
every acknowledged task (GENMILL_LOAD_TASKS: id, 1 if it has a webhook) and every
failed request with its wall-clock time (GENMILL_LOAD_ERRORS: time, route, what)."""

from __future__ import annotations

import os
import random
import secrets
import time

from locust import FastHttpUser, between, constant_throughput, events, task

KEY = os.environ.get("GENMILL_LOAD_KEY", "")
WEBHOOK = os.environ.get("GENMILL_LOAD_WEBHOOK", "")
HOSTS = [h for h in os.environ.get("GENMILL_LOAD_HOSTS", "").split(",") if h]
MODEL = os.environ.get("GENMILL_LOAD_MODEL", "test/steps-t2i")
IMAGES = "/v1/images/generations/async"
HEADERS = {"Authorization": f"Bearer {KEY}"}


def _appender(variable: str):
    path = os.environ.get(variable)
    return open(path, "a", buffering=1) if path else None  # line-buffered: one write a line


TASKS = _appender("GENMILL_LOAD_TASKS")
ERRORS = _appender("GENMILL_LOAD_ERRORS")


@events.request.add_listener
def _record_failure(name, exception=None, response=None, **_) -> None:
    if exception is None or ERRORS is None:
        return
    # A failure the user marked (catch_response) reads as its message, else the error.
    what = str(exception) if type(exception).__name__ == "CatchResponseError" else \
        type(exception).__name__
    ERRORS.write(f"{time.time():.3f}\t{name}\t{what}\n")


class Careful(FastHttpUser):
    """The careful client's habits: one pending submit at a time, resent with the same
    Idempotency-Key until answered; on a refused connection, the next API."""

    abstract = True
    webhook_share = 0.0

    def on_start(self) -> None:
        self.host_index = HOSTS.index(self.host) if self.host in HOSTS else 0
        self.pending: tuple[str, dict] | None = None

    def url(self, path: str) -> str:
        return (HOSTS[self.host_index] if HOSTS else self.host) + path

    def fail(self, response, more: str = "") -> None:
        """Mark the request failed; on no answer at all, use another API next time."""
        status = response.status_code or 0
        error = getattr(response, "error", None)
        response.failure(f"HTTP {status}{more}" if status or error is None
                         else type(error).__name__)
        if status == 0 and len(HOSTS) > 1:
            self.host_index = (self.host_index + 1) % len(HOSTS)

    def submit(self) -> str | None:
        if self.pending is None:
            body = {"model": MODEL, "prompt": "load", "steps": 1, "step_ms": 10}
            if WEBHOOK and random.random() < self.webhook_share:
                body["webhook"] = WEBHOOK
            self.pending = (secrets.token_hex(8), body)
        key, body = self.pending
        with self.client.post(self.url(IMAGES), json=body, name="POST submit",
                              catch_response=True,
                              headers={**HEADERS, "Idempotency-Key": key}) as r:
            if r.status_code != 200:
                self.fail(r)
                return None
            task_id = r.json()["task_id"]
        self.pending = None
        if TASKS is not None:
            TASKS.write(f"{task_id}\t{int('webhook' in body)}\n")
        return task_id


class Poller(Careful):
    weight = int(os.environ.get("GENMILL_LOAD_POLLERS", "9"))
    wait_time = between(1, 5)
    task_id: str | None = None

    @task
    def poll(self) -> None:
        if self.task_id is None:
            self.task_id = self.submit()
            return
        with self.client.get(self.url(f"{IMAGES}/{self.task_id}"), name="GET status",
                             headers=HEADERS, catch_response=True) as r:
            if r.status_code != 200:
                self.fail(r)


class Streamer(Careful):
    weight = int(os.environ.get("GENMILL_LOAD_STREAMERS", "1"))
    wait_time = between(1, 5)
    network_timeout = 600.0  # a queued task's stream stays open until it has run
    task_id: str | None = None

    @task
    def follow(self) -> None:
        if self.task_id is None:
            self.task_id = self.submit()
            if self.task_id is None:
                return
        # The whole stream is one request: it ends after the task's final event.
        with self.client.get(self.url(f"/v1/tasks/{self.task_id}/events"),
                             name="GET events stream",
                             headers={**HEADERS, "Accept": "text/event-stream"},
                             catch_response=True) as r:
            if r.status_code != 200 or b"event: status" not in (r.content or b""):
                self.fail(r, ", cut short" if r.status_code == 200 else "")


class Submitter(Careful):
    fixed_count = int(os.environ.get("GENMILL_LOAD_SUBMITTERS", "1"))
    wait_time = constant_throughput(1)
    webhook_share = 0.1

    @task
    def submit_one(self) -> None:
        self.submit()
