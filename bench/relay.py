"""Relaying N tasks through genmill vs submitting them to the upstream directly.

The upstream is a real `genmill serve` whose test model takes about 2 s a task
(`tests.engines`' steps-t2i, 20 sleeping steps of 100 ms) on `--upstream-workers`
workers. The baseline, measured in the same run, is the upstream's own wall time for N
tasks submitted to it directly (first submit to last finish). Then the same N tasks go
to a relaying genmill (`engine = "siray"` entry, poll interval `--interval`, by default
3 s: an image entry's default, the low end of the 3-5 s Siray documents) and its wall
time is measured the same way, from the relaying server's timestamps.

Printed: the ratio (target ≤ 1.2), upstream status requests per relayed task against
the bound (mean upstream task duration ÷ poll interval + 2), and the relay runner's CPU
per relayed task (target ≤ 20 ms; utime + stime of its process from /proc).

    python bench/relay.py [--tasks 500] [--upstream-workers 8] [--interval 3]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Server  # noqa: E402

IMAGE = "/v1/images/generations/async"
STATUS_ROUTE = IMAGE + "/{task_id}"
UPSTREAM_KEY = "bench-upstream-key-0123"
BODY = {"model": "test/steps-t2i", "prompt": "bench", "steps": 20, "step_ms": 100}


def count(client: httpx.Client, state: int) -> int:
    """Tasks of this key in a local-API state (4 processing, 1 success, -1 failed)."""
    return client.get("/api/v1/tasks", params={"state": state, "page_size": 1}
                      ).json()["data"]["total"]


def run_all(client: httpx.Client, tasks: int, model: str) -> float:
    """Submit `tasks` tasks, wait for all: wall seconds from the first submit until none
    is processing (one list request every 0.1 s, the same for both runs)."""
    failed_before = count(client, -1)
    started = time.monotonic()
    for _ in range(tasks):
        client.post(IMAGE, json={**BODY, "model": model}).raise_for_status()
    while count(client, 4):
        time.sleep(0.1)
    wall = time.monotonic() - started
    if count(client, -1) != failed_before:
        sys.exit("some tasks failed: see GET /api/v1/tasks?state=-1")
    return wall


def status_requests(server_url: str) -> int:
    """GETs of the image status route the upstream answered (its /metrics)."""
    text = httpx.get(server_url + "/metrics",
                     headers={"Authorization": f"Bearer {UPSTREAM_KEY}"}).text
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("genmill_http_requests_total{")
                   and f'route="{STATUS_ROUTE}"' in line and 'method="GET"' in line))


def relay_cpu_seconds(data_dir: Path) -> float:
    row = None
    while row is None:  # the relay runner signs in once it runs
        with sqlite3.connect(data_dir / "genmill.db") as conn:
            row = conn.execute("SELECT pid FROM workers WHERE id LIKE '%:relay-%'").fetchone()
        time.sleep(0.2)
    (pid,) = row
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def upstream_durations(client: httpx.Client, count: int) -> list[float]:
    listed = client.get("/api/v1/tasks", params={"page_size": 100}).json()["data"]
    pages = (listed["total"] + 99) // 100
    tasks = []
    for page in range(1, pages + 1):
        tasks += client.get("/api/v1/tasks", params={"page_size": 100, "page": page}
                            ).json()["data"]["tasks"]
    newest = sorted(tasks, key=lambda t: t["submit_time"])[-count:]
    return [t["finish_time"] - t["submit_time"] for t in newest]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--upstream-workers", type=int, default=8)
    parser.add_argument("--interval", type=float, default=3.0)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="genmill-bench-relay-"))
    up_env = {"GENMILL_DATA_DIR": str(base / "upstream"), "GENMILL_PLUGINS": "tests.engines",
              "GENMILL_API_KEYS": f"relay:{UPSTREAM_KEY}"}
    with Server("genmill", up_env, workers=args.upstream_workers) as upstream, \
            httpx.Client(base_url=upstream.url, timeout=60,
                         headers={"Authorization": f"Bearer {UPSTREAM_KEY}"}) as up:
        while up.get("/readyz").status_code != 200:
            time.sleep(0.1)
        direct = run_all(up, args.tasks, "test/steps-t2i")

        models = base / "models.toml"
        models.write_text(
            '[[models]]\nid = "relay/steps-t2i"\nengine = "siray"\nmode = "text-to-image"\n'
            f'base_url = "{upstream.url}"\napi_key_env = "BENCH_UPSTREAM_KEY"\n'
            f'upstream_model = "test/steps-t2i"\npoll_interval = {args.interval}\n')
        relay_env = {"GENMILL_DATA_DIR": str(base / "relay"), "GENMILL_API_KEYS": "",
                     "GENMILL_MODELS_FILE": str(models), "BENCH_UPSTREAM_KEY": UPSTREAM_KEY}
        with Server("genmill", relay_env, workers=1) as relay, \
                httpx.Client(base_url=relay.url, timeout=60) as client:
            while client.get("/readyz").status_code != 200:
                time.sleep(0.1)
            polls_before = status_requests(upstream.url)
            cpu_before = relay_cpu_seconds(base / "relay")
            relayed = run_all(client, args.tasks, "relay/steps-t2i")
            cpu = relay_cpu_seconds(base / "relay") - cpu_before
            polls = status_requests(upstream.url) - polls_before
        durations = upstream_durations(up, args.tasks)

    mean_duration = sum(durations) / len(durations)
    bound = mean_duration / args.interval + 2
    print(f"{args.tasks} tasks of ~2 s, upstream with {args.upstream_workers} workers, "
          f"poll interval {args.interval:g} s; load average {os.getloadavg()[0]:.2f} "
          f"(2-core machines share it: CPU per task grows with it)")
    print(f"direct to the upstream (baseline): {direct:7.2f} s")
    print(f"relayed through genmill:           {relayed:7.2f} s")
    print(f"ratio relayed / direct: {relayed / direct:.3f}   (target <= 1.2)")
    print(f"upstream status requests per task: {polls / args.tasks:.2f}   (bound: mean "
          f"upstream duration {mean_duration:.2f} s / {args.interval:g} s + 2 = {bound:.2f})")
    print(f"relay runner CPU per task: {cpu / args.tasks * 1000:.2f} ms   (target <= 20 ms); "
          f"per upstream request (polls, submits, downloads): "
          f"{cpu / (polls + 2 * args.tasks) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
