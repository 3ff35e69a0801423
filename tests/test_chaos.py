"""A short chaos run (issue 18; the long one is bench/chaos.py): a deployment of an
API-only `genmill serve` and a `genmill worker` on a private PostgreSQL cluster, under
steady submits and polls, while a worker is killed mid-task, the API is killed with
SIGKILL and started again, and PostgreSQL restarts. Every acknowledged task must end,
no task may run twice at once, no webhook delivery may be lost. Only counts and final
outcomes are asserted, with generous waits: the machine may be loaded."""

from __future__ import annotations

import base64
import os
import random
import time

import pytest

from tests.chaos_kit import (
    Deployment,
    PrivatePostgres,
    Traffic,
    WebhookReceiver,
    journal_overlaps,
    postgres_binaries,
)


@pytest.fixture
def private_postgres():
    if postgres_binaries() is None:
        pytest.skip("no PostgreSQL binaries under /usr/lib/postgresql")
    pg = PrivatePostgres().start()
    yield pg
    pg.destroy()


def test_tasks_survive_killed_workers_a_killed_api_and_a_postgresql_restart(
        tmp_path, private_postgres):
    journal = tmp_path / "journal.log"
    receiver = WebhookReceiver()
    env = {"GENMILL_TEST_JOURNAL": str(journal), "GENMILL_LEASE_SECONDS": "4",
           "GENMILL_MAX_ATTEMPTS": "4", "GENMILL_ALLOW_PRIVATE_WEBHOOKS": "1",
           "GENMILL_WEBHOOK_SECRET": "whsec_" + base64.b64encode(os.urandom(32)).decode(),
           "GENMILL_WEBHOOK_RETRY_SCHEDULE": "0,1,2,4,8,8,8,8,8,8"}
    deployment = Deployment(tmp_path, private_postgres.url, apis=1, nodes=1, workers=2,
                            env=env)
    traffic = None
    try:
        deployment.start(timeout=180)
        traffic = Traffic(deployment.urls, rate=2, steps=4, step_ms=200,
                          webhook_url=receiver.url, webhook_share=0.25).start()
        rng = random.Random(3)

        # A worker killed in the middle of a task: the task is run again, elsewhere.
        killed = None
        deadline = time.monotonic() + 120
        while killed is None or killed[1] is None:
            assert time.monotonic() < deadline, "no worker ever held a task"
            time.sleep(0.5)
            if deployment.busy_workers():
                killed = deployment.kill_worker(rng)
        interrupted = killed[1]

        # The API killed and started again on its port.
        time.sleep(2)
        deployment.kill_api()
        time.sleep(1)
        deployment.start_api(timeout=180)

        # PostgreSQL restarts under the running deployment.
        time.sleep(2)
        private_postgres.stop("fast")
        time.sleep(3)
        private_postgres.start()
        time.sleep(3)
        traffic.stop_submitting()

        left = traffic.drain(timeout=180)
        tasks = list(traffic.tasks.values())
        assert not left, f"tasks acknowledged but never final: {left[:5]}\n{deployment.logs()}"
        assert traffic.unanswered_submits == 0
        assert len(tasks) >= 10
        failed = [t for t in tasks if t.status != "SUCCESS"]
        assert not failed, failed[:5]
        assert interrupted in traffic.tasks
        (attempts,), = deployment._query(
            f"SELECT attempts FROM tasks WHERE id = '{interrupted}'")
        assert attempts >= 2  # the killed run counted, the second one finished it

        assert journal_overlaps(journal) == []  # never two runs of a task at once

        hooked = [t.task_id for t in tasks if t.webhook]
        deadline = time.monotonic() + 120
        while not all(receiver.completed(t) for t in hooked):
            assert time.monotonic() < deadline, "webhook deliveries lost"
            time.sleep(0.5)
        # The faults were seen by clients (the API was down), and only as answers that
        # a client can retry: refused connections and 503s, never a 500.
        kinds = {what for _, _, what in traffic.errors.items}
        assert kinds, "the faults went unnoticed: were they injected?"
        assert kinds <= {"ConnectError", "ReadError", "RemoteProtocolError",
                         "ConnectTimeout", "ReadTimeout", "HTTP 503"}, kinds
    finally:
        if traffic:
            traffic.stop()
        deployment.stop()
        receiver.close()


def test_an_upstream_down_longer_than_the_relays_retries_costs_an_attempt_not_the_task(
        make_server, tmp_path):
    """A relayed task whose upstream is down (killed, restarting) through all the entry's
    retries goes back to the queue instead of failing; once the upstream is back, it
    ends SUCCESS, submitted upstream once (found by bench/chaos.py --relay)."""
    from tests.conftest import LiveServer, wait_final, wait_for
    from tests.relay_helpers import UPSTREAM_KEY, UPSTREAM_KEYS, relaying_server, siray_entry

    upstream = LiveServer(tmp_path / "upstream" / "data", keys=UPSTREAM_KEYS, workers=1)
    upstream.data_dir.parent.mkdir(parents=True)
    models = siray_entry("relay/steps-t2i", "text-to-image", upstream.url, "test/steps-t2i")
    relay = relaying_server(make_server, tmp_path / "relay", models.replace(
        "max_retries = 2", "max_retries = 3"), env={"GENMILL_MAX_ATTEMPTS": "100"},
        workers=0).start(wait_ready=False)
    try:
        with relay.client() as client:
            task_id = client.post("/v1/images/generations/async", json={
                "model": "relay/steps-t2i", "prompt": "comes back"}).json()["task_id"]
            # Each attempt gives up after about 3.5 s of retries; many remain.
            wait_for(lambda: client.get(f"/v1/tasks/{task_id}").json()["data"]["attempts"]
                     >= 2, timeout=120, interval=0.2)
            upstream.start()
            done = wait_final(client, f"/v1/images/generations/async/{task_id}", timeout=120)
        assert done["status"] == "SUCCESS", done
        with upstream.client(UPSTREAM_KEY) as client:
            listed = client.get("/api/v1/tasks").json()["data"]["tasks"]
        assert len(listed) == 1  # one upstream task, however many attempts
    finally:
        upstream.stop()
