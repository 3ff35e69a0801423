"""Load: locust (headless, loopback) against a real deployment, with chaos or without
(issue 18).

    pip install -e '.[bench,test]'
    python bench/load.py --pollers 200 --submits 10 --duration 120            # SQLite
    python bench/load.py --database postgresql --s3 --pollers 1000 --submits 50 --duration 600
    python bench/load.py --pollers 1000 --submits 50 --duration 600 \
        --chaos worker,api,webhook,disk                                       # SQLite
    python bench/load.py --database postgresql --s3 --pollers 1000 --submits 50 \
        --duration 600 --chaos worker,api,postgres,s3,webhook,disk

The deployment: on SQLite one `genmill serve` with `--workers` worker processes; on
PostgreSQL (a private cluster this script starts, never the machine's shared server) two
API-only servers behind locust's users in turn and `genmill worker` processes, files in
SeaweedFS with `--s3`. The users (bench/load_users.py): pollers each polling their own
task every 1-5 s, a tenth of them following it through the event stream instead, and
submitters making `--submits` per second, a tenth of those with a webhook to a receiver
in this process.

Both deployments run 2 worker processes (`--workers`). On PostgreSQL + S3 at 50 submits/s
on 2 shared cores, 4 were measured (issue 18, docs/reliability.md) and drained no faster
and cost more CPU per task: there the machine's CPU is the limit, not the workers' waits.
`bench/cpu_groups.py` wraps a run to give CPU seconds per process group per task.

The users are careful clients (a submit is resent with its Idempotency-Key until
answered; a refused connection moves them to the other API). The tasks run
`test/journal-t2i`, whose journal shows two runs of one task at once.

`--chaos` strikes tests/chaos_schedule.py's faults during the load, after a quiet first
quarter: kill -9 of a worker every `--kill-every` s, kill -9 of an API process started
again, PostgreSQL stopped, S3 frozen, the webhook receiver hanging, the deployment's disk
(a tmpfs of `--disk-mib` mounted for the run) filled and freed.

Printed: per route, requests, failures and p50/p95/p99 (ms); the server processes' RSS
at start and end; how many tasks were queued when the load ended and how long they took
to drain (a deployment that keeps up has few, drained in seconds); with chaos, per fault
the client-visible errors, how long they lasted and when the next task was done; and at
the end every acknowledged task's fate (lost: missing, or not final with no live
worker), runs of one task that overlapped, webhook deliveries lost. The baseline is the
status route's p50 measured with one client on the idle deployment just before the load:
the loaded p50 is printed as a ratio to it.
Exit status 1 if a task was lost or ran twice at once, a webhook delivery was lost, a
request failed with a 5xx other than 503/507, or (without chaos) any request failed.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load_report import (  # noqa: E402
    machine_load,
    read_acknowledged,
    read_errors,
    route_table,
    server_errors,
    task_outcomes,
)
from tests.chaos_kit import FINAL, MODEL, Deployment, PrivatePostgres, WebhookReceiver  # noqa: E402
from tests.chaos_schedule import (  # noqa: E402
    Faults,
    Targets,
    chaos_env,
    deployment_root,
    print_per_fault,
    run_schedule,
)
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
    parser.add_argument("--chaos", default="",
                        help="faults during the load, comma-separated: worker, api, "
                             "postgres, s3, webhook, disk (tests/chaos_schedule.py)")
    parser.add_argument("--kill-every", type=float, default=30,
                        help="seconds between kill -9 of a worker")
    parser.add_argument("--outage", type=float, default=5, help="seconds PostgreSQL is down")
    parser.add_argument("--disk-mib", type=int, default=1024,
                        help="size of the tmpfs the deployment lives on (disk fault)")
    args = parser.parse_args()
    args.chaos = set(filter(None, args.chaos.split(",")))

    root = Path(tempfile.mkdtemp(prefix="genmill-load-"))
    journal = root / "journal.log"
    receiver = WebhookReceiver()
    env = chaos_env(journal) if args.chaos else {
        "GENMILL_TEST_JOURNAL": str(journal), "GENMILL_ALLOW_PRIVATE_WEBHOOKS": "1",
        "GENMILL_WEBHOOK_SECRET": "whsec_" + base64.b64encode(os.urandom(32)).decode()}
    pg = seaweed = deployment = disk = None
    try:
        home, disk = deployment_root(root, args.chaos, args.disk_mib)
        if args.database == "postgresql":
            pg = PrivatePostgres().start()
            if args.s3:
                from tests.seaweed import SeaweedS3

                seaweed = SeaweedS3(root / "seaweed").start()
                env.update(seaweed.env("load"))
        deployment = Deployment(home, pg.url if pg else None, nodes=1, workers=args.workers,
                                env=env).start()
        baseline = idle_p50(deployment.urls[0])
        rss_start = rss_mib(deployment)
        streamers = round(args.pollers * args.stream_share)
        print(f"load: {args.pollers} pollers ({streamers} on the event stream), "
              f"{args.submits} submits/s, {args.duration} s, {args.database}"
              f"{' + S3' if seaweed else ''}, chaos: {','.join(sorted(args.chaos)) or 'none'};"
              f" {machine_load()}; RSS at start {rss_start:.0f} MiB; files in {root}",
              flush=True)
        to_monotonic = time.time() - time.monotonic()
        begin = time.monotonic()
        runs = start_locust(args, deployment, receiver, root, streamers)
        samples = sample_rss(deployment, runs, every=30)
        faults = Faults()
        if args.chaos:
            stop = threading.Event()
            time.sleep(args.duration / 4)  # the quiet first quarter
            run_schedule(args.chaos, args.duration * 3 / 4 - 5,
                         Targets(deployment, receiver, pg, seaweed, disk=disk), faults, stop,
                         args.kill_every, args.outage)
        for run in runs:
            run.wait()
        print(f"load over; {machine_load()}", flush=True)
        rss_end = rss_mib(deployment)
        at_end = dict(deployment._query("SELECT status, count(*) FROM tasks GROUP BY status"))
        drain_began = time.monotonic()
        counts, live = final_check(deployment, args.drain)
        # Kept up: little queued when the load ended, and it drained in seconds.
        print(f"when the load ended: {at_end.get('QUEUED', 0)} queued, "
              f"{at_end.get('IN_PROGRESS', 0)} running; drained in "
              f"{time.monotonic() - drain_began:.0f} s", flush=True)
        acknowledged = read_acknowledged(sorted(root.glob("tasks-*.tsv")))
        hooked = {t for t, h in acknowledged.items() if h}
        hooked |= {task_id for (task_id,) in deployment._query(
            "SELECT task_id FROM task_webhooks")}
        # A task still queued after the drain has no delivery due yet: count those final.
        final = {task_id for task_id, status in deployment._query(
            "SELECT id, status FROM tasks") if status in FINAL}
        hooked &= final
        deadline = time.monotonic() + 180  # deliveries may still be on their retry schedule
        while time.monotonic() < deadline and not all(map(receiver.completed, hooked)):
            time.sleep(1)

        failures = route_table([str(root / f"locust-{i}") for i in range(len(runs))],
                               baseline)
        print(f"server RSS: {rss_start:.0f} MiB at start, {rss_end:.0f} MiB at the end "
              f"(x{rss_end / rss_start:.2f}); every 30 s: "
              f"{' '.join(f'{mib:.0f}' for mib in samples)}")
        errors = read_errors(sorted(root.glob("errors-*.tsv")), to_monotonic)
        if faults.log:
            print(f"client-visible errors: {len(errors)}; per fault:")
            successes = [at - to_monotonic for (at,) in deployment._query(
                "SELECT finish_time FROM tasks WHERE status = 'SUCCESS'")]
            print_per_fault(faults, errors, successes, begin)
        missed, _ = task_outcomes(deployment, acknowledged, live, journal)
        bad = server_errors(errors)
        lost_hooks = [t for t in hooked if not receiver.completed(t)]
        print(f"webhook deliveries lost: {len(lost_hooks)} of {len(hooked)} final tasks "
              f"with a webhook (duplicates received {receiver.duplicates})")
        print(f"server errors (5xx other than 503/507): {len(bad)}; tasks when the drain "
              f"ended ({args.drain:.0f} s at most): {counts}; {machine_load()}")
        return 1 if missed or lost_hooks or bad or (failures and not args.chaos) else 0
    finally:
        if deployment:
            deployment.stop()
        receiver.close()
        if seaweed:
            seaweed.stop()
        if pg:
            pg.destroy()
        if disk:
            disk.unmount()


def sample_rss(deployment: Deployment, runs: list[subprocess.Popen],
               every: float) -> list[float]:
    """The deployment's RSS every `every` s while locust runs (filled in by a thread): a
    leak grows steadily, caches filling level off."""
    samples: list[float] = []

    def sample() -> None:
        while any(run.poll() is None for run in runs):
            samples.append(rss_mib(deployment))
            time.sleep(every)

    threading.Thread(target=sample, daemon=True).start()
    return samples


def start_locust(args, deployment: Deployment, receiver: WebhookReceiver, root: Path,
                 streamers: int) -> list[subprocess.Popen]:
    """Two APIs on PostgreSQL: half the users on each (two locust runs side by side, each
    a process of its own: locust is one core's work at 1,000 users)."""
    base_env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent),
                "GENMILL_LOAD_KEY": KEYS["alice"], "GENMILL_LOAD_WEBHOOK": receiver.url,
                "GENMILL_LOAD_HOSTS": ",".join(deployment.urls), "GENMILL_LOAD_MODEL": MODEL}
    runs = []
    share = len(deployment.urls)
    for index, url in enumerate(deployment.urls):
        part = {**base_env,
                "GENMILL_LOAD_POLLERS": str((args.pollers - streamers) // share),
                "GENMILL_LOAD_STREAMERS": str(streamers // share),
                "GENMILL_LOAD_SUBMITTERS": str(args.submits // share
                                               + (index < args.submits % share)),
                "GENMILL_LOAD_TASKS": str(root / f"tasks-{index}.tsv"),
                "GENMILL_LOAD_ERRORS": str(root / f"errors-{index}.tsv")}
        count = (int(part["GENMILL_LOAD_POLLERS"]) + int(part["GENMILL_LOAD_STREAMERS"])
                 + int(part["GENMILL_LOAD_SUBMITTERS"]))
        runs.append(subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", str(Path(__file__).parent /
                                                      "load_users.py"),
             "--headless", "--host", url, "-u", str(count), "-r",
             str(args.spawn_rate / share), "-t", f"{args.duration}s", "--only-summary",
             "--csv", str(root / f"locust-{index}"), "--stop-timeout", "10",
             "--loglevel", "WARNING"],
            env=part, stdout=subprocess.DEVNULL, stderr=open(root / f"locust-{index}.log",
                                                             "w")))
    return runs


if __name__ == "__main__":
    sys.exit(main())
