"""Chaos run: a real deployment on loopback under steady traffic while processes die,
PostgreSQL restarts, S3 hangs, the disk fills and a webhook receiver hangs (issue 18).

    python bench/chaos.py --database sqlite --duration 120
    python bench/chaos.py --database postgresql --s3 --duration 300 --rate 3
    python bench/chaos.py --database postgresql --relay --duration 120 --faults postgres

What runs: on SQLite one `genmill serve` with worker processes; on PostgreSQL (a private
cluster this script starts with Debian's initdb/pg_ctl on its own port, never the
machine's shared server) two API-only `genmill serve` and two `genmill worker`
processes, with files in SeaweedFS (`--s3`). Clients submit `test/journal-t2i` tasks at
`--rate` per second (a tenth with a webhook to a local receiver) and poll each until it
ends. The engine journals every run's start, steps and end, so runs of one task that
overlapped are seen. The faults and their schedule are tests/chaos_schedule.py's (with
`disk`, the deployment lives on a tmpfs of `--disk-mib` that is filled and freed). With
`--relay` every task is relayed to an upstream genmill (on PostgreSQL: a second database
of the same cluster, so the PostgreSQL fault strikes both).

The baseline is the same deployment and traffic in the run's first, quiet phase (no
faults): the chaos phase's completed tasks per second and end-to-end latency are printed
as ratios to it. Then, per fault: when it struck, how many client-visible errors and for
how long, and when work resumed (the first task to finish after the fault was healed).
At the end: lost tasks (acknowledged but neither final nor running: goal 0), runs that
overlapped (goal 0), webhook deliveries lost (goal 0), failures and their reasons.
Exit status 1 if a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.chaos_kit import (  # noqa: E402
    MODEL,
    Deployment,
    PrivatePostgres,
    Traffic,
    WebhookReceiver,
    journal_completions,
    journal_overlaps,
)
from tests.chaos_schedule import (  # noqa: E402
    Faults,
    Targets,
    chaos_env,
    deployment_root,
    error_windows,
    print_per_fault,
    run_schedule,
)
from tests.conftest import LiveServer  # noqa: E402
from tests.relay_helpers import UPSTREAM_KEY, UPSTREAM_KEYS, entry  # noqa: E402


def phase_figures(tasks, since: float, until: float) -> tuple[float, float, float]:
    """Tasks submitted in [since, until): completed per second, p50 and p95 latency (s)."""
    done = [t for t in tasks if since <= t.submitted < until and t.final_at is not None]
    latencies = sorted(t.final_at - t.submitted for t in done)
    if not latencies:
        return 0.0, float("nan"), float("nan")
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
    return len(done) / (until - since), statistics.median(latencies), p95


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--s3", action="store_true", help="files in SeaweedFS (PostgreSQL)")
    parser.add_argument("--duration", type=float, default=120, help="seconds of traffic")
    parser.add_argument("--quiet", type=float, default=None,
                        help="seconds of the quiet baseline phase (default: a quarter)")
    parser.add_argument("--rate", type=float, default=2.0, help="submits per second")
    parser.add_argument("--steps", type=int, default=4, help="engine steps per task")
    parser.add_argument("--step-ms", type=int, default=150)
    parser.add_argument("--workers", type=int, default=2,
                        help="worker processes (SQLite: in serve; PostgreSQL: per node)")
    parser.add_argument("--kill-every", type=float, default=30,
                        help="seconds between kill -9 of a worker")
    parser.add_argument("--outage", type=float, default=5, help="seconds PostgreSQL is down")
    parser.add_argument("--faults", default="worker,api,postgres,s3,webhook,disk",
                        help="comma-separated: worker, api, postgres, s3, webhook, disk "
                             "(tests/chaos_schedule.py)")
    parser.add_argument("--disk-mib", type=int, default=256,
                        help="size of the tmpfs the deployment lives on (disk fault)")
    parser.add_argument("--relay", action="store_true",
                        help="relay every task to an upstream genmill (engine = siray); "
                             "kill -9 the relay runner every --kill-every s and the "
                             "upstream once")
    parser.add_argument("--drain", type=float, default=240,
                        help="seconds to wait for every task to end after the traffic")
    args = parser.parse_args()
    args.faults = set(args.faults.split(","))
    args.quiet = args.duration / 4 if args.quiet is None else args.quiet

    root = Path(tempfile.mkdtemp(prefix="genmill-chaos-"))
    journal = root / "journal.log"
    receiver = WebhookReceiver()
    env = chaos_env(journal)
    pg = seaweed = deployment = traffic = upstream = disk = None
    try:
        home, disk = deployment_root(root, args.faults, args.disk_mib)
        if args.database == "postgresql":
            pg = PrivatePostgres().start()
            if args.s3:
                from tests.seaweed import SeaweedS3

                seaweed = SeaweedS3(root / "seaweed").start()
                env.update(seaweed.env("chaos"))
        if args.relay:
            upstream = start_upstream(root, env, pg.create_database("upstream") if pg else None)
            env.update(GENMILL_MODELS_FILE=str(root / "models.toml"), UPSTREAM_KEY=UPSTREAM_KEY)
        deployment = Deployment(home, pg.url if pg else None, env=env,
                                workers=args.workers).start()
        print(f"deployment up: {args.database}{' + S3' if seaweed else ''}, "
              f"{len(deployment.apis)} API process(es), {len(deployment.worker_pids())} "
              f"worker(s); load {os.getloadavg()[0]:.1f}; files in {root}", flush=True)
        traffic = Traffic(deployment.urls, args.rate, args.steps, args.step_ms,
                          webhook_url=receiver.url,
                          model="relay/journal-t2i" if args.relay else MODEL).start()
        begin = time.monotonic()
        time.sleep(args.quiet)
        chaos_begin = time.monotonic()
        faults, stop = Faults(), threading.Event()
        run_schedule(args.faults, args.duration - args.quiet,
                     Targets(deployment, receiver, pg, seaweed, upstream, disk), faults, stop,
                     args.kill_every, args.outage)
        chaos_end = time.monotonic()
        traffic.stop_submitting()
        left = traffic.drain(args.drain)
        # Webhooks of finished tasks may still be on their retry schedule.
        hooked = [t for t in traffic.tasks.values() if t.webhook and t.final_at]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all(receiver.completed(t.task_id)
                                                      for t in hooked):
            time.sleep(1)
        traffic.stop()
        code = report(args, deployment, traffic, faults, receiver, journal, left,
                      begin, chaos_begin, chaos_end)
        return max(code, relay_report(upstream)) if upstream else code
    finally:
        if traffic:
            traffic.stop()
        if deployment:
            deployment.stop()
        receiver.close()
        if seaweed:
            seaweed.stop()
        if pg:
            pg.destroy()
        if upstream:
            upstream.stop()
        if disk:
            disk.unmount()


def start_upstream(root: Path, env: dict[str, str], database_url: str | None) -> LiveServer:
    """Another genmill (its own key; SQLite, or `database_url` on the deployment's
    PostgreSQL cluster, so that the PostgreSQL fault strikes it too) that the deployment
    relays every task to, through a models file entry `relay/journal-t2i` (engine =
    "siray"); its engine journals its runs in upstream-journal.log."""
    upstream = LiveServer(root / "upstream" / "data", keys=UPSTREAM_KEYS, env={
        "GENMILL_TEST_JOURNAL": str(root / "upstream-journal.log"),
        "GENMILL_LEASE_SECONDS": env["GENMILL_LEASE_SECONDS"],
        **({"GENMILL_DATABASE_URL": database_url} if database_url else {})})
    upstream.data_dir.parent.mkdir(parents=True)
    upstream.start(timeout=180)
    # The entry's defaults (5 retries with backoff), not the tests' quick-failing ones.
    (root / "models.toml").write_text(entry(
        id="relay/journal-t2i", engine="siray", mode="text-to-image", base_url=upstream.url,
        api_key_env="UPSTREAM_KEY", upstream_model="test/journal-t2i", poll_interval=0.3))
    upstream.journal = root / "upstream-journal.log"
    upstream.database_url = database_url or f"sqlite:///{upstream.data_dir / 'genmill.db'}"
    return upstream


def relay_report(upstream: LiveServer) -> int:
    """Upstream tasks per relayed submit (its prompt names it): more than one means a
    task was submitted upstream twice."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(upstream.database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            prompts = Counter((params if isinstance(params, dict) else json.loads(params))
                              .get("prompt") for (params,)
                              in conn.execute(text("SELECT params FROM tasks")))
    finally:
        engine.dispose()
    twice = {prompt: n for prompt, n in prompts.items() if n > 1}
    overlaps = journal_overlaps(upstream.journal)
    print(f"relay: {sum(prompts.values())} upstream tasks for {len(prompts)} relayed "
          f"submits; submitted upstream more than once: {len(twice)}; upstream runs that "
          f"overlapped: {len(overlaps)}")
    return 1 if twice or overlaps else 0


def report(args, deployment, traffic, faults, receiver, journal, left, begin,
           chaos_begin, chaos_end) -> int:
    tasks = list(traffic.tasks.values())
    live_workers = deployment.worker_pids()
    lost = left  # acknowledged, yet not final after a drain far longer than a run
    overlaps = journal_overlaps(journal)
    twice = {k: v for k, v in journal_completions(journal).items() if v > 1}
    hooked = [t for t in tasks if t.webhook and t.final_at]
    hooks_lost = [t for t in hooked if not receiver.completed(t.task_id)]
    failures = Counter(t.fail_reason[:70] for t in tasks if t.status == "FAILURE")

    base = phase_figures(tasks, begin, chaos_begin)
    hit = phase_figures(tasks, chaos_begin, chaos_end)
    print(f"\n{args.database}: {len(tasks)} tasks acknowledged, {args.rate}/s, "
          f"{args.steps}x{args.step_ms} ms each; load {os.getloadavg()[0]:.1f}")
    print(f"quiet phase (baseline): {base[0]:.2f} tasks/s done, latency p50 {base[1]:.2f} s "
          f"p95 {base[2]:.2f} s")
    print(f"chaos phase: {hit[0]:.2f} tasks/s done (x{hit[0] / base[0]:.2f} of baseline), "
          f"p50 {hit[1]:.2f} s (x{hit[1] / base[1]:.2f}), p95 {hit[2]:.2f} s "
          f"(x{hit[2] / base[2]:.2f})")

    errors = sorted(traffic.errors.items)
    print(f"client-visible errors: {len(errors)} in {len(error_windows(errors))} window(s) "
          f"(a gap of 3 s splits them); submits never acknowledged: "
          f"{traffic.unanswered_submits}")
    print_per_fault(faults, errors, [t.final_at for t in tasks if t.status == "SUCCESS"
                                     and t.final_at], begin)

    print(f"lost tasks: {len(lost)} (not final after {args.drain:.0f} s of drain: "
          f"{len(left)}, live workers {len(live_workers)})")
    print(f"runs that overlapped: {len(overlaps)}; tasks whose engine ran to the end twice: "
          f"{len(twice)}")
    print(f"webhook deliveries lost: {len(hooks_lost)} of {len(hooked)}; "
          f"duplicates received: {receiver.duplicates}")
    print(f"outcomes: {dict(Counter(t.status or 'not final' for t in tasks))}; "
          f"failure reasons: {dict(failures)}")
    for task_id, earlier, later in overlaps[:5]:
        print(f"  overlap {task_id}: pid {earlier[0]} {earlier[1]:.2f}-{earlier[2]:.2f}, "
              f"pid {later[0]} {later[1]:.2f}-{later[2]:.2f}")
    for t in (left + hooks_lost)[:5]:
        print(f"  unfinished or unhooked: {t.task_id} {t.status}")
    missed = lost or left or overlaps or hooks_lost
    if missed:
        print("\nlogs:\n" + deployment.logs()[-8000:])
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
