"""The faults of a chaos run, struck in turn over its chaos phase, and the report of what
clients saw around each: shared by bench/chaos.py (its own steady traffic) and
bench/load.py --chaos (during locust's load).

Faults (names for `--faults` / `--chaos`): `worker` (kill -9 of a worker process, one in
the middle of a task if any is, every `kill_every` s), `api` (kill -9 of an API process,
started again on its port), `postgres` (the private cluster stopped for `outage` s),
`s3` (the S3 server frozen by SIGSTOP for 20 s), `webhook` (the receiver holds every
request for 30 s), `disk` (the deployment's tmpfs filled to the last byte for
`disk_hold` s, then freed). With an upstream (relay chaos) the relay runner is killed
instead of a worker, and the upstream once.

All times are monotonic seconds.
"""

from __future__ import annotations

import base64
import os
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.chaos_kit import Deployment, PrivatePostgres, WebhookReceiver
from tests.faults import SmallDisk

# When each one-off fault strikes, as a share of the chaos phase: one at a time, so that
# each fault's errors and recovery are its own.
ONE_OFF = (("api", 0.2), ("upstream", 0.3), ("postgres", 0.4), ("s3", 0.55),
           ("webhook", 0.7), ("disk", 0.85))


@dataclass
class Targets:
    """What the faults strike: those left None are skipped."""

    deployment: Deployment
    receiver: WebhookReceiver | None = None
    pg: PrivatePostgres | None = None
    seaweed: object | None = None  # tests.seaweed.SeaweedS3
    upstream: object | None = None  # tests.conftest.LiveServer
    disk: SmallDisk | None = None


def chaos_env(journal: Path) -> dict[str, str]:
    """The deployment's settings under chaos: the journaling engine's file, a short lease
    (a killed worker's task is re-queued within seconds), and webhook retries that fit a
    run (a 5 s timeout, then retries over about 3 minutes instead of hours)."""
    return {"GENMILL_TEST_JOURNAL": str(journal), "GENMILL_LEASE_SECONDS": "6",
            "GENMILL_MAX_ATTEMPTS": "3", "GENMILL_ALLOW_PRIVATE_WEBHOOKS": "1",
            "GENMILL_WEBHOOK_SECRET": "whsec_" + base64.b64encode(os.urandom(32)).decode(),
            "GENMILL_WEBHOOK_TIMEOUT": "5",
            "GENMILL_WEBHOOK_RETRY_SCHEDULE": "0,2,5,10,20,30,60,60"}


def deployment_root(root: Path, wanted: set[str], disk_mib: int) -> tuple[Path, SmallDisk | None]:
    """Where the deployment keeps its data: with the `disk` fault, on a tmpfs of
    `disk_mib` mounted under `root` (journals and logs of the bench stay outside it)."""
    if "disk" not in wanted:
        return root, None
    disk = SmallDisk(root / "disk", disk_mib)
    if not disk.mount():
        print(f"no disk fault: cannot mount a tmpfs ({disk.error})")
        return root, None
    return disk.mountpoint, disk


class Faults:
    """Each fault: name, when it struck and when it was healed."""

    def __init__(self) -> None:
        self.log: list[dict] = []

    def record(self, name: str, struck: float, healed: float | None = None) -> None:
        self.log.append({"name": name, "struck": struck, "healed": healed or struck})
        print(f"  fault: {name}", flush=True)


def run_schedule(wanted: set[str], phase: float, targets: Targets, faults: Faults,
                 stop: threading.Event, kill_every: float = 30, outage: float = 5,
                 disk_hold: float = 20, seed: int = 7) -> None:
    """Strike the `wanted` faults over `phase` seconds (returns when it is over)."""
    rng = random.Random(seed)
    begin = time.monotonic()
    available = {"api": True, "upstream": targets.upstream is not None,
                 "postgres": targets.pg is not None, "s3": targets.seaweed is not None,
                 "webhook": targets.receiver is not None, "disk": targets.disk is not None}
    plan = [(share * phase, name) for name, share in ONE_OFF
            if available[name] and (name in wanted or name == "upstream")]
    next_kill = begin + kill_every / 2
    while not stop.is_set() and time.monotonic() - begin < phase:
        now = time.monotonic()
        if now >= next_kill and (targets.upstream is not None or "worker" in wanted):
            _kill_one(targets, rng, faults, now)
            next_kill = now + kill_every
        if plan and now - begin >= plan[0][0]:
            _, name = plan.pop(0)
            _strike(name, targets, rng, faults, now, outage, disk_hold)
        stop.wait(0.2)


def _kill_one(targets: Targets, rng: random.Random, faults: Faults, now: float) -> None:
    if targets.upstream is not None:  # the relaying process, in the middle of its wait
        relays = targets.deployment.relay_pids()
        if relays:
            pid = rng.choice(sorted(relays))
            os.kill(pid, signal.SIGKILL)
            faults.record(f"kill -9 relay runner {pid} (mid-task)", now)
        return
    killed = targets.deployment.kill_worker(rng)
    if killed:
        pid, task_id = killed
        faults.record(f"kill -9 worker {pid} ({'mid-task' if task_id else 'idle'})", now)


def _strike(name: str, targets: Targets, rng: random.Random, faults: Faults, now: float,
            outage: float, disk_hold: float) -> None:
    deployment = targets.deployment
    if name == "upstream":
        upstream = targets.upstream
        upstream.process.kill()
        upstream.process.wait()
        upstream._log.close()
        time.sleep(1)
        upstream.start(timeout=180)
        faults.record("kill -9 the upstream server, started again", now, time.monotonic())
    elif name == "api":
        index = rng.randrange(len(deployment.apis))
        deployment.kill_api(index)
        time.sleep(1)
        deployment.start_api(index, timeout=300)
        faults.record(f"kill -9 API {index + 1}, started again", now, time.monotonic())
    elif name == "postgres":
        targets.pg.stop("fast")
        time.sleep(outage)
        targets.pg.start()
        faults.record(f"PostgreSQL down {outage:.0f} s", now, time.monotonic())
    elif name == "s3":
        os.killpg(targets.seaweed.process.pid, signal.SIGSTOP)
        time.sleep(20)
        os.killpg(targets.seaweed.process.pid, signal.SIGCONT)
        faults.record("S3 server stopped 20 s (SIGSTOP)", now, time.monotonic())
    elif name == "webhook":
        targets.receiver.hang(30)
        faults.record("webhook receiver hangs 30 s", now, now + 30)
    elif name == "disk":
        written = targets.disk.fill()
        time.sleep(disk_hold)
        targets.disk.free()
        faults.record(f"disk full {disk_hold:.0f} s ({written >> 20} MiB filler on a "
                      f"{targets.disk.size_mib} MiB tmpfs), then freed", now,
                      time.monotonic())


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


def print_per_fault(faults: Faults, errors: list[tuple[float, str, str]],
                    successes: list[float], begin: float) -> None:
    """Per fault: its client-visible errors (faults come one after another: an error
    belongs to the last fault struck before it), how long they lasted, and when work
    resumed (the first task to end SUCCESS after the fault was healed)."""
    errors = sorted(errors)
    successes = sorted(successes)
    marks = [f["struck"] - 0.5 for f in faults.log] + [float("inf")]
    before = [e for e in errors if e[0] < marks[0]]
    if before:
        print(f"  errors before any fault: {len(before)}: "
              f"{dict(Counter(f'{r} {w}' for _, r, w in before))}")
    for fault, since, until in zip(faults.log, marks, marks[1:], strict=False):
        mine = [e for e in errors if since <= e[0] < until]
        span = (f" over {mine[-1][0] - mine[0][0]:.1f} s, the last "
                f"{mine[-1][0] - fault['healed']:+.1f} s from healing") if mine else ""
        kinds = ", ".join(f"{k} x{n}" for k, n in Counter(f"{r} {w}" for _, r, w in mine)
                          .most_common(6))
        resumed = next((at for at in successes if at > fault["healed"]), None)
        back = f"{resumed - fault['healed']:.1f} s" if resumed else "never"
        took = fault["healed"] - fault["struck"]
        print(f"  +{fault['struck'] - begin:6.1f} s {fault['name']}"
              f"{f' (healed after {took:.1f} s)' if took else ''}: {len(mine)} errors{span}"
              f"{' (' + kinds + ')' if kinds else ''}; next task done {back} after healing",
              flush=True)
