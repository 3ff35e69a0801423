"""Load: locust (headless, loopback) against a real deployment (issue 18).

    pip install -e '.[bench,test]'
    python bench/load.py --pollers 200 --submits 10 --duration 120            # SQLite
    python bench/load.py --database postgresql --s3 --pollers 1000 --submits 50 --duration 600

The deployment: on SQLite one `genmill serve` with `--workers` worker processes; on
PostgreSQL (a private cluster this script starts, never the machine's shared server) two
API-only servers behind locust's users in turn and `genmill worker` processes, files in
SeaweedFS with `--s3`. The users (bench/load_users.py): pollers each polling their own
task every 1-5 s, a tenth of them following it through the event stream instead, and
submitters making `--submits` per second, a tenth of those with a webhook to a receiver
in this process.

Printed: per route, requests, failures and p50/p95/p99 (ms); the server processes' RSS
at start and end; and at the end whether every task is final or still waiting with a
live worker. The baseline is the status route's p50 measured with one client on the
idle deployment just before the load: the loaded p50 is printed as a ratio to it.
Exit status 1 if a request failed or a task was lost.
"""

from __future__ import annotations

import argparse
import base64
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.chaos_kit import Deployment, PrivatePostgres, WebhookReceiver  # noqa: E402
from tests.conftest import KEYS  # noqa: E402
from tests.faults import session_processes  # noqa: E402

IMAGES = "/v1/images/generations/async"


def rss_mib(deployment: Deployment) -> float:
    """Resident memory of every process of the deployment (APIs, workers, engines)."""
    total = 0
    sessions = [api.process.pid for api in deployment.apis]
    sessions += [node.process.pid for node in deployment.nodes]
    for session in sessions:
        for pid in session_processes(session):
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                pass
    return total / 1024


def idle_p50(url: str, seconds: float = 5) -> float:
    """The status route's median latency (ms) with one client and nothing else."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEYS['alice']}"},
                      timeout=30) as client:
        task_id = client.post(IMAGES, json={"model": "test/steps-t2i", "steps": 1}).json()[
            "task_id"]
        times = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            client.get(f"{IMAGES}/{task_id}").raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)


def final_check(deployment: Deployment, wait: float) -> tuple[dict, int]:
    """Wait up to `wait` s for the queue to empty; counts by status and live workers."""
    deadline = time.monotonic() + wait
    while True:
        counts = dict(deployment._query("SELECT status, count(*) FROM tasks GROUP BY status"))
        live = len(deployment.worker_pids())
        if not (counts.get("QUEUED") or counts.get("IN_PROGRESS")) or \
                time.monotonic() > deadline:
            return counts, live
        time.sleep(2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--s3", action="store_true")
    parser.add_argument("--pollers", type=int, default=200,
                        help="users that each poll (or stream) their own task")
    parser.add_argument("--stream-share", type=float, default=0.1,
                        help="share of the pollers that follow the event stream instead")
    parser.add_argument("--submits", type=int, default=10, help="submits per second")
    parser.add_argument("--duration", type=int, default=120, help="seconds of load")
    parser.add_argument("--spawn-rate", type=float, default=50, help="users started per s")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--drain", type=float, default=300,
                        help="seconds to wait for the queue to empty after the load")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="genmill-load-"))
    receiver = WebhookReceiver()
    env = {"GENMILL_ALLOW_PRIVATE_WEBHOOKS": "1",
           "GENMILL_WEBHOOK_SECRET": "whsec_" + base64.b64encode(os.urandom(32)).decode()}
    pg = seaweed = deployment = None
    try:
        if args.database == "postgresql":
            pg = PrivatePostgres().start()
            if args.s3:
                from tests.seaweed import SeaweedS3

                seaweed = SeaweedS3(root / "seaweed").start()
                env.update(seaweed.env("load"))
        deployment = Deployment(root, pg.url if pg else None, nodes=1, workers=args.workers,
                                env=env).start()
        baseline = idle_p50(deployment.urls[0])
        rss_start = rss_mib(deployment)
        streamers = round(args.pollers * args.stream_share)
        print(f"load: {args.pollers} pollers ({streamers} on the event stream), "
              f"{args.submits} submits/s, {args.duration} s, {args.database}"
              f"{' + S3' if seaweed else ''}; machine load {os.getloadavg()[0]:.1f} "
              f"({os.cpu_count()} CPUs); RSS at start {rss_start:.0f} MiB", flush=True)
        prefix = root / "locust"
        locust_env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent),
                      "GENMILL_LOAD_KEY": KEYS["alice"], "GENMILL_LOAD_WEBHOOK": receiver.url,
                      "GENMILL_LOAD_POLLERS": str(args.pollers - streamers),
                      "GENMILL_LOAD_STREAMERS": str(streamers),
                      "GENMILL_LOAD_SUBMITTERS": str(args.submits)}
        # Two APIs on PostgreSQL: half the users on each (two locust runs side by side).
        runs = []
        share = len(deployment.urls)
        for index, url in enumerate(deployment.urls):
            part = {**locust_env,
                    "GENMILL_LOAD_POLLERS": str((args.pollers - streamers) // share),
                    "GENMILL_LOAD_STREAMERS": str(streamers // share),
                    "GENMILL_LOAD_SUBMITTERS": str(args.submits // share
                                                   + (index < args.submits % share))}
            count = (int(part["GENMILL_LOAD_POLLERS"]) + int(part["GENMILL_LOAD_STREAMERS"])
                     + int(part["GENMILL_LOAD_SUBMITTERS"]))
            runs.append(subprocess.Popen(
                [sys.executable, "-m", "locust", "-f", str(Path(__file__).parent /
                                                          "load_users.py"),
                 "--headless", "--host", url, "-u", str(count), "-r",
                 str(args.spawn_rate / share), "-t", f"{args.duration}s", "--only-summary",
                 "--csv", f"{prefix}-{index}", "--stop-timeout", "10",
                 "--loglevel", "WARNING"],
                env=part, stdout=subprocess.DEVNULL, stderr=open(root / f"locust-{index}.log",
                                                                 "w")))
        for run in runs:
            run.wait()
        rss_end = rss_mib(deployment)
        counts, live = final_check(deployment, args.drain)
        hooked = [task_id for (task_id,) in deployment._query(
            "SELECT task_id FROM task_webhooks")]
        deadline = time.monotonic() + 120  # deliveries may still be on their way
        while time.monotonic() < deadline and not all(map(receiver.completed, hooked)):
            time.sleep(1)
        receiver.lost = [t for t in hooked if not receiver.completed(t)]
        receiver.hooked = len(hooked)
        return report(args, runs, prefix, baseline, rss_start, rss_end, counts, live,
                      receiver)
    finally:
        if deployment:
            deployment.stop()
        receiver.close()
        if seaweed:
            seaweed.stop()
        if pg:
            pg.destroy()


def report(args, runs, prefix, baseline, rss_start, rss_end, counts, live, receiver) -> int:
    rows: dict[str, list[dict]] = {}
    for index in range(len(runs)):
        with open(f"{prefix}-{index}_stats.csv") as stats:
            for row in csv.DictReader(stats):
                rows.setdefault(row["Name"], []).append(row)
    failures = 0
    print(f"\n{'route':<22}{'requests':>10}{'failures':>10}{'req/s':>9}{'p50':>8}{'p95':>8}"
          f"{'p99':>8}  (ms)")
    for name, parts in rows.items():
        requests = sum(int(p["Request Count"]) for p in parts)
        failed = sum(int(p["Failure Count"]) for p in parts)
        if name != "Aggregated":
            failures += failed
        # Percentiles of the runs' summaries: the worst run's figure (they are halves).
        p50, p95, p99 = (max(float(p[q] or 0) for p in parts) for q in ("50%", "95%", "99%"))
        rate = sum(float(p["Requests/s"]) for p in parts)
        print(f"{name:<22}{requests:>10}{failed:>10}{rate:>9.1f}{p50:>8.0f}{p95:>8.0f}"
              f"{p99:>8.0f}")
    status = next((p for p in rows.get("GET status", [])), None)
    if status:
        loaded = max(float(p["50%"]) for p in rows["GET status"])
        print(f"GET status p50 under load {loaded:.0f} ms vs {baseline:.1f} ms idle "
              f"(baseline, one client): x{loaded / baseline:.1f}")
    print(f"server RSS: {rss_start:.0f} MiB at start, {rss_end:.0f} MiB at the end "
          f"(x{rss_end / rss_start:.2f})")
    waiting = (counts.get("QUEUED", 0) + counts.get("IN_PROGRESS", 0))
    lost = waiting if not live else 0
    print(f"tasks: {counts}; live workers {live}; lost {lost}")
    print(f"webhook deliveries lost: {len(receiver.lost)} of {receiver.hooked} tasks with "
          f"a webhook (duplicates received {receiver.duplicates}); machine load "
          f"{os.getloadavg()[0]:.1f}")
    return 1 if failures or lost or waiting or receiver.lost else 0


if __name__ == "__main__":
    sys.exit(main())
