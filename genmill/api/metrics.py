"""`GET /metrics` in the Prometheus text format.

Task figures come from the database at scrape time (store/stats.py), so every API
replica reports the same numbers: tasks by model and status, run time and queue wait
histograms by model, live workers by host. HTTP requests by route template, method and
status (and their durations) are counted in this process by the access log layer.
The route is private like every other unless GENMILL_METRICS_PUBLIC=1 (api/auth.py).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.exposition import generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from genmill.store import stats
from genmill.store.connector import Database

router = APIRouter(tags=["Health"])
WORKER_FRESHNESS = 30.0  # a worker heartbeats every 5 s


class TaskCollector:
    """Reads the task figures from the database on each scrape."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self):
        tasks = GaugeMetricFamily("genmill_tasks", "Tasks by model and status (all replicas)",
                                  labels=["model", "status"])
        for model, status, count in stats.task_counts(self.db):
            tasks.add_metric([model, status], count)
        yield tasks

        per_model: dict[tuple[str, str], dict[float, tuple[int, float]]] = defaultdict(dict)
        for model, metric, bound, count, total in stats.timings(self.db):
            per_model[(metric, model)][bound] = (count, total)
        for metric, name, help_text in (
            ("run", "genmill_task_run_seconds", "Seconds from start to end of a task's run"),
            ("wait", "genmill_task_queue_wait_seconds", "Seconds a task waited in the queue"),
        ):
            family = HistogramMetricFamily(name, help_text, labels=["model"])
            for (kind, model), buckets in sorted(per_model.items()):
                if kind != metric:
                    continue
                cumulative, total_seconds, points = 0, 0.0, []
                for bound in (*stats.BUCKETS, stats.INF):
                    count, seconds = buckets.get(bound, (0, 0.0))
                    cumulative += count
                    total_seconds += seconds
                    points.append(("+Inf" if bound == stats.INF else str(bound), cumulative))
                family.add_metric([model], points, sum_value=total_seconds)
            yield family

        workers = GaugeMetricFamily("genmill_workers", "Live worker processes by host",
                                    labels=["host"])
        for host, count in stats.live_workers_by_host(self.db, WORKER_FRESHNESS):
            workers.add_metric([host], count)
        yield workers


class HttpCollector:
    """HTTP requests by route template, method and status, and their durations, counted
    in this process. Plain dicts, one list per (route, method, status) holding a count per
    bucket and the sum of seconds, filled a batch at a time (`observe`): prometheus_client's
    own Counter and Histogram (a labels() lookup and a lock each) cost a tenth of a status
    poll (bench/poll.py). Counts change on the event loop only; a scrape reads them from a
    thread, and a count read mid-change is at most one request behind."""

    BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30)

    def __init__(self) -> None:
        # (id(route), method, status) -> [count per bucket (the last one: +Inf)..., sum];
        # routes compare by value and are not hashable, so the key holds their id.
        self.counts: dict[tuple[int, str, int], list] = {}
        # The same keys -> (route template, method, status): the labels. It holds the
        # route, so an id in a key is never a newer object's.
        self.labels: dict[tuple[int, str, int], tuple[str, str, str]] = {}
        self._routes: list = []

    def observe(self, entries) -> None:
        """Count a batch of the access log's entries (logs.AccessEntry)."""
        counts, buckets = self.counts, self.BUCKETS
        for _, seconds, method, _, status, _, _, route in entries:
            key = (id(route), method, status)
            slot = counts.get(key)
            if slot is None:
                self._routes.append(route)
                self.labels[key] = (self.template(route), method, str(status))
                slot = counts[key] = [0] * (len(buckets) + 1) + [0.0]
            slot[bisect_left(buckets, seconds)] += 1
            slot[-1] += seconds

    @staticmethod
    def template(route) -> str:
        """Routes are labelled by their template (`/v1/.../{task_id}`), never by the raw
        path, so labels stay few; requests answered before routing (401 from the auth
        layer, 413) are "unmatched"."""
        return getattr(route, "path", None) or "unmatched"

    def collect(self):
        requests: dict[tuple[str, str, str], int] = defaultdict(int)
        per_template: dict[str, list] = {}
        counts = list(self.counts.items())
        labels = self.labels.copy()  # after counts: observe sets a key's labels first
        for key, slot in counts:
            slot = list(slot)
            requests[labels[key]] += sum(slot[:-1])
            total = per_template.setdefault(labels[key][0], [0] * len(slot))
            for i, value in enumerate(slot):
                total[i] += value
        family = CounterMetricFamily("genmill_http_requests", "HTTP requests answered",
                                     labels=["route", "method", "status"])
        for labels, count in sorted(requests.items()):
            family.add_metric(list(labels), count)
        yield family
        durations = HistogramMetricFamily("genmill_http_request_duration_seconds",
                                          "Seconds to answer an HTTP request",
                                          labels=["route"])
        for template, slot in sorted(per_template.items()):
            cumulative, points = 0, []
            for bound, count in zip((*self.BUCKETS, "+Inf"), slot[:-1], strict=True):
                cumulative += count
                points.append((str(bound), cumulative))
            durations.add_metric([template], points, sum_value=slot[-1])
        yield durations


class Metrics:
    """One registry per app: the database collector and this process's HTTP figures."""

    def __init__(self, db: Database) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(TaskCollector(db))
        self.http = HttpCollector()
        self.registry.register(self.http)
        self.observe = self.http.observe  # the access log layer's, at each of its flushes
        # Called on the event loop before a scrape: the access log's flush, so that every
        # request answered so far is counted (api/app.py sets it).
        self.catch_up: Callable[[], None] = lambda: None

    def render(self) -> bytes:
        return generate_latest(self.registry)


@router.get("/metrics", summary="Prometheus metrics (private unless GENMILL_METRICS_PUBLIC=1)",
            response_class=Response)
async def metrics(request: Request) -> Response:
    figures = request.app.state.metrics
    figures.catch_up()
    body = await run_in_threadpool(figures.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)

