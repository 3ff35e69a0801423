"""GET /metrics: task figures from the database (same on every replica), HTTP requests by
route template, private unless GENMILL_METRICS_PUBLIC=1. Parsed with prometheus-client's
own parser."""

from __future__ import annotations

import asyncio
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from genmill.domain import Kind, Status, Task, new_task_id
from genmill.store import stats
from genmill.store.connector import Database
from genmill.store.tasks import TaskStore
from tests.conftest import KEYS, wait_final

IMAGES = "/v1/images/generations/async"


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_timings_are_kept_by_the_database_as_tasks_end(database_url):
    db = Database(database_url)
    db.migrate()
    store = TaskStore(db)
    try:
        for _ in range(3):
            task = Task(id=new_task_id(Kind.IMAGE), kind=Kind.IMAGE, action="imageGenerate",
                        model="m/one", owner="a", status=Status.QUEUED, params={},
                        submit_time=time.time() - 40, max_attempts=1, time_limit=30)
            store.insert(task)
            claimed = store.claim("w", 30)
            assert store.finish(claimed.id, "w", Status.SUCCESS, outputs=["x.png"])
        rows = {(metric, le): (n, total) for model, metric, le, n, total in stats.timings(db)}
        assert rows[("wait", 60)][0] == 3 and 120 < rows[("wait", 60)][1] < 130
        assert rows[("run", 0.1)][0] == 3  # claimed and finished at once
        assert ("m/one", "SUCCESS", 3) in stats.task_counts(db)
    finally:
        db.dispose()


def test_metrics_of_a_live_server(server):
    with server.client() as client:
        done = client.post(IMAGES, json={"model": "test/steps-t2i", "prompt": "m"}).json()
        failed = client.post(IMAGES, json={"model": "test/steps-t2i", "prompt": "m",
                                           "fail": "on purpose"}).json()
        assert wait_final(client, f"{IMAGES}/{done['task_id']}")["status"] == "SUCCESS"
        assert wait_final(client, f"{IMAGES}/{failed['task_id']}")["status"] == "FAILURE"
        assert httpx.get(server.url + "/metrics").status_code == 401  # private by default
        answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    values = samples(answer.text)
    model = ("model", "test/steps-t2i")
    assert values[("genmill_tasks", (model, ("status", "SUCCESS")))] >= 1
    assert values[("genmill_tasks", (model, ("status", "FAILURE")))] >= 1
    assert values[("genmill_task_run_seconds_count", (model,))] >= 2
    assert values[("genmill_task_run_seconds_bucket", (("le", "+Inf"), model))] >= 2
    assert values[("genmill_task_queue_wait_seconds_count", (model,))] >= 2
    assert values[("genmill_task_run_seconds_sum", (model,))] > 0
    assert sum(v for (name, _), v in values.items() if name == "genmill_workers") == 2
    # Requests by route template, never by the raw path (one label per route).
    polls = values[("genmill_http_requests_total",
                    (("method", "GET"), ("route", IMAGES + "/{task_id}"), ("status", "200")))]
    assert polls >= 2
    assert values[("genmill_http_requests_total",
                   (("method", "POST"), ("route", IMAGES), ("status", "200")))] >= 2
    # Refused by the auth layer before any route matched.
    assert values[("genmill_http_requests_total",
                   (("method", "GET"), ("route", "unmatched"), ("status", "401")))] >= 1
    assert not any(done["task_id"] in str(labels) for _, labels in values)


def test_metrics_can_be_made_public(tmp_path):
    asyncio.run(_public(tmp_path))


async def _public(tmp_path):
    from genmill.api.app import create_app
    from genmill.config import Settings

    keys = ",".join(f"{name}:{key}" for name, key in KEYS.items())
    for public, expected in ((True, 200), (False, 401)):
        app = create_app(Settings(data_dir=tmp_path / str(public), api_keys=keys,
                                  metrics_public=public, _env_file=None))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as anonymous:
            assert (await anonymous.get("/metrics")).status_code == expected
            assert (await anonymous.get("/api/v1/tasks")).status_code == 401  # only /metrics
        app.state.components.close()
