"""What bench/load.py prints after a run: locust's figures per route, and what the
deployment's database, the journal and the webhook receiver say about every task the
clients were told was accepted."""

from __future__ import annotations

import csv
import os
from collections import Counter
from pathlib import Path

from tests.chaos_kit import FINAL, Deployment, journal_completions, journal_overlaps


def route_table(csv_prefixes: list[str], baseline: float) -> int:
    """Requests, failures and p50/p95/p99 per route (both locust runs summed); returns
    the failed requests."""
    rows: dict[str, list[dict]] = {}
    for prefix in csv_prefixes:
        with open(f"{prefix}_stats.csv") as stats:
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
    if rows.get("GET status"):
        loaded = max(float(p["50%"]) for p in rows["GET status"])
        print(f"GET status p50 under load {loaded:.0f} ms vs {baseline:.1f} ms idle "
              f"(baseline, one client): x{loaded / baseline:.1f}")
    return failures


def read_acknowledged(paths: list[Path]) -> dict[str, bool]:
    """Task id -> has a webhook, for every submit the clients saw answered 200."""
    tasks: dict[str, bool] = {}
    for path in paths:
        if path.exists():
            for line in path.read_text().splitlines():
                task_id, _, hooked = line.partition("\t")
                if hooked:
                    tasks[task_id] = tasks.get(task_id, False) or hooked == "1"
    return tasks


def read_errors(paths: list[Path], to_monotonic: float) -> list[tuple[float, str, str]]:
    """(monotonic time, route, what) of each failed request."""
    errors = []
    for path in paths:
        if path.exists():
            for line in path.read_text().splitlines():
                parts = line.split("\t")
                if len(parts) == 3:
                    errors.append((float(parts[0]) - to_monotonic, parts[1], parts[2]))
    return sorted(errors)


def task_outcomes(deployment: Deployment, acknowledged: dict[str, bool], live: int,
                  journal: Path) -> tuple[int, dict[str, str]]:
    """Print what became of the acknowledged tasks; returns (goals missed, statuses)."""
    statuses = dict(deployment._query("SELECT id, status FROM tasks"))
    missing = [t for t in acknowledged if t not in statuses]
    waiting = [t for t in acknowledged if statuses.get(t) not in (*FINAL, None)]
    lost = missing + (waiting if not live else [])
    counts = Counter(statuses.get(t, "missing") for t in acknowledged)
    reasons = Counter(reason[:70] for (reason,) in deployment._query(
        "SELECT fail_reason FROM tasks WHERE status = 'FAILURE'"))
    print(f"tasks acknowledged to clients: {len(acknowledged)}: {dict(counts)}; "
          f"in the database {len(statuses)}; live workers {live}; lost {len(lost)} "
          f"(missing {len(missing)}, not final {len(waiting)})")
    (retried,), = deployment._query("SELECT count(*) FROM tasks WHERE attempts > 1")
    print(f"tasks that took more than one attempt (a run lost to a fault): {retried}")
    if reasons:
        print(f"failure reasons: {dict(reasons)}")
    overlaps = journal_overlaps(journal)
    twice = [t for t, n in journal_completions(journal).items() if n > 1]
    print(f"runs that overlapped (run twice at once): {len(overlaps)}; tasks whose engine "
          f"ran to its end twice: {len(twice)}")
    for task_id, earlier, later in overlaps[:5]:
        print(f"  overlap {task_id}: pid {earlier[0]} {earlier[1]:.2f}-{earlier[2]:.2f}, "
              f"pid {later[0]} {later[1]:.2f}-{later[2]:.2f}")
    # Still waiting with a live worker is no loss: the queue was longer than the drain.
    return len(lost) + len(overlaps), statuses


def server_errors(errors: list[tuple[float, str, str]]) -> list[tuple[float, str, str]]:
    """Errors that are the server's fault and that no client can act on: 500s and the
    like. 503 (an outage, with Retry-After) and 507 (a full disk) say what to do."""
    return [e for e in errors if e[2].startswith("HTTP 5")
            and not e[2].startswith(("HTTP 503", "HTTP 507"))]


def machine_load() -> str:
    return f"machine load {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)"
