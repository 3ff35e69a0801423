"""Chaos run: a real deployment on loopback under steady traffic while processes die,
PostgreSQL restarts, S3 hangs and a webhook receiver hangs (issue 18).

    python bench/chaos.py --database sqlite --duration 120
    python bench/chaos.py --database postgresql --s3 --duration 300 --rate 3

What runs: on SQLite one `genmill serve` with worker processes; on PostgreSQL (a private
cluster this script starts with Debian's initdb/pg_ctl on its own port, never the
machine's shared server) two API-only `genmill serve` and two `genmill worker`
processes, with files in SeaweedFS (`--s3`). Clients submit `test/journal-t2i` tasks at
`--rate` per second (a tenth with a webhook to a local receiver) and poll each until it
ends. The engine journals every run's start, steps and end, so runs of one task that
overlapped are seen.

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
import base64
import json
import os
import random
import signal
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
from tests.conftest import LiveServer  # noqa: E402
from tests.relay_helpers import UPSTREAM_KEY, UPSTREAM_KEYS, entry  # noqa: E402


class Faults:
    """Each fault: name, when it struck and when it was healed (monotonic seconds)."""

    def __init__(self) -> None:
        self.log: list[dict] = []

    def record(self, name: str, struck: float, healed: float | None = None) -> None:
        self.log.append({"name": name, "struck": struck, "healed": healed or struck})
        print(f"  fault: {name}", flush=True)


def chaos(args, deployment: Deployment, pg: PrivatePostgres | None, seaweed,
          receiver: WebhookReceiver, faults: Faults, stop: threading.Event,
          upstream=None) -> None:
    """Inject the faults on a schedule over the chaos phase."""
    rng = random.Random(7)
    phase = args.duration - args.quiet
    begin = time.monotonic()
    plan = []  # (offset, fault) for the one-off faults, spread over the phase
    if upstream is not None:
        plan.append((0.3 * phase, "upstream"))
    if "api" in args.faults:
        plan.append((0.2 * phase, "api"))
    if "postgres" in args.faults and pg is not None:
        plan.append((0.4 * phase, "postgres"))
    if "s3" in args.faults and seaweed is not None:
        plan.append((0.55 * phase, "s3"))
    if "webhook" in args.faults:
        plan.append((0.7 * phase, "webhook"))
    next_kill = begin + args.kill_every / 2
    while not stop.is_set() and time.monotonic() - begin < phase:
        now = time.monotonic()
        if upstream is not None and now >= next_kill:  # the relaying process, mid-wait
            relays = deployment.relay_pids()
            if relays:
                pid = rng.choice(sorted(relays))
                os.kill(pid, signal.SIGKILL)
                faults.record(f"kill -9 relay runner {pid} (mid-task)", now)
                next_kill = now + args.kill_every
        elif "worker" in args.faults and now >= next_kill:
            killed = deployment.kill_worker(rng)
            if killed:
                pid, task_id = killed
                faults.record(f"kill -9 worker {pid} ({'mid-task' if task_id else 'idle'})",
                              now)
            next_kill = now + args.kill_every
        if plan and now - begin >= plan[0][0]:
            _, fault = plan.pop(0)
            if fault == "upstream":
                upstream.process.kill()
                upstream.process.wait()
                upstream._log.close()
                time.sleep(1)
                upstream.start(timeout=180)
                faults.record("kill -9 the upstream server, started again", now,
                              time.monotonic())
            elif fault == "api":
                index = rng.randrange(len(deployment.apis))
                deployment.kill_api(index)
                time.sleep(1)
                deployment.start_api(index)
                faults.record(f"kill -9 API {index + 1}, started again", now, time.monotonic())
            elif fault == "postgres":
                pg.stop("fast")
                time.sleep(args.outage)
                pg.start()
                faults.record(f"PostgreSQL down {args.outage:.0f} s", now, time.monotonic())
            elif fault == "s3":
                os.killpg(seaweed.process.pid, signal.SIGSTOP)
                time.sleep(20)
                os.killpg(seaweed.process.pid, signal.SIGCONT)
                faults.record("S3 server stopped 20 s (SIGSTOP)", now, time.monotonic())
            elif fault == "webhook":
                receiver.hang(30)
                faults.record("webhook receiver hangs 30 s", now, now + 30)
        stop.wait(0.2)


def error_windows(errors: list[tuple[float, str, str]], gap: float = 3.0) -> list[dict]:
    """Errors grouped into windows (a gap of more than `gap` s starts a new one)."""
    windows: list[dict] = []
    for at, route, what in sorted(errors):
        if windows and at - windows[-1]["end"] <= gap:
            window = windows[-1]
        else:
            window = {"start": at, "end": at, "kinds": Counter()}
            windows.append(window)
        window["end"] = at
        window["kinds"][f"{route} {what}"] += 1
    return windows


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
    parser.add_argument("--faults", default="worker,api,postgres,s3,webhook",
                        help="comma-separated: worker, api, postgres, s3, webhook")
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
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    env = {"GENMILL_TEST_JOURNAL": str(journal), "GENMILL_LEASE_SECONDS": "6",
           "GENMILL_MAX_ATTEMPTS": "3", "GENMILL_ALLOW_PRIVATE_WEBHOOKS": "1",
           "GENMILL_WEBHOOK_SECRET": secret, "GENMILL_WEBHOOK_TIMEOUT": "5",
           "GENMILL_WEBHOOK_RETRY_SCHEDULE": "0,2,5,10,20,30,60,60"}
    pg = seaweed = deployment = traffic = upstream = None
    try:
        if args.database == "postgresql":
            pg = PrivatePostgres().start()
            if args.s3:
                from tests.seaweed import SeaweedS3

                seaweed = SeaweedS3(root / "seaweed").start()
                env.update(seaweed.env("chaos"))
        if args.relay:
            upstream = start_upstream(root, env)
            env.update(GENMILL_MODELS_FILE=str(root / "models.toml"), UPSTREAM_KEY=UPSTREAM_KEY)
        deployment = Deployment(root, pg.url if pg else None, env=env,
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
        chaos(args, deployment, pg, seaweed, receiver, faults, stop, upstream)
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


def start_upstream(root: Path, env: dict[str, str]) -> LiveServer:
    """Another genmill (SQLite, its own key) that the deployment relays every task to,
    through a models file entry `relay/journal-t2i` (engine = "siray"); its engine
    journals its runs in upstream-journal.log."""
    upstream = LiveServer(root / "upstream" / "data", keys=UPSTREAM_KEYS, env={
        "GENMILL_TEST_JOURNAL": str(root / "upstream-journal.log"),
        "GENMILL_LEASE_SECONDS": env["GENMILL_LEASE_SECONDS"]})
    upstream.data_dir.parent.mkdir(parents=True)
    upstream.start(timeout=180)
    # The entry's defaults (5 retries with backoff), not the tests' quick-failing ones.
    (root / "models.toml").write_text(entry(
        id="relay/journal-t2i", engine="siray", mode="text-to-image", base_url=upstream.url,
        api_key_env="UPSTREAM_KEY", upstream_model="test/journal-t2i", poll_interval=0.3))
    upstream.journal = root / "upstream-journal.log"
    return upstream


def relay_report(upstream: LiveServer) -> int:
    """Upstream tasks per relayed submit (its prompt names it): more than one means a
    task was submitted upstream twice."""
    import sqlite3

    with sqlite3.connect(upstream.data_dir / "genmill.db") as conn:
        prompts = Counter(json.loads(params).get("prompt")
                          for (params,) in conn.execute("SELECT params FROM tasks"))
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
    # Faults come one after another: an error belongs to the last fault struck before it.
    marks = [f["struck"] - 0.5 for f in faults.log] + [float("inf")]
    before = [e for e in errors if e[0] < marks[0]]
    if before:
        print(f"  errors before any fault: {len(before)}: "
              f"{dict(Counter(f'{r} {w}' for _, r, w in before))}")
    for fault, since, until in zip(faults.log, marks, marks[1:], strict=False):
        mine = [e for e in errors if since <= e[0] < until]
        span = f" over {mine[-1][0] - mine[0][0]:.1f} s" if mine else ""
        kinds = ", ".join(f"{k} x{n}" for k, n in Counter(f"{r} {w}" for _, r, w in mine)
                          .most_common())
        resumed = [t.final_at for t in tasks
                   if t.final_at and t.final_at > fault["healed"] and t.status == "SUCCESS"]
        back = f"{min(resumed) - fault['healed']:.1f} s" if resumed else "never"
        took = fault["healed"] - fault["struck"]
        print(f"  +{fault['struck'] - begin:6.1f} s {fault['name']}"
              f"{f' (healed after {took:.1f} s)' if took else ''}: {len(mine)} errors{span}"
              f"{' (' + kinds + ')' if kinds else ''}; next task done {back} after healing")

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
