"""Dispatch latency: submit -> IN_PROGRESS with an idle worker, SQLite and PostgreSQL.

Each task is submitted only when the worker is idle; latency is the task's start_time
minus its submit_time (both stamped by genmill on this machine). The baseline measured
in the same run is the round trip of the submit request itself.

    python bench/dispatch.py [--tasks 40] [--postgres postgresql://postgres@127.0.0.1/test]
                             [--machines 2]
Target: median <= 50 ms on both databases. With `--machines N`, a last PostgreSQL run
serves the API alone (`genmill serve --workers 0`) and runs N `genmill worker`
processes of one worker each, every process with its own data directory, as on
separate machines: a submit must wake a worker in another process through the database.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import REPO, Server  # noqa: E402

MODEL_PLUGIN = "tests.engines"  # the test engine: one instant step, a 32x32 PNG


@contextlib.contextmanager
def worker_machines(env: dict[str, str], root: Path, count: int):
    """`count` `genmill worker --workers 1` processes, each with a data dir of its own."""
    processes = []
    try:
        for n in range(count):
            data = root / f"worker-{n}"
            data.mkdir()
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "genmill", "worker", "--workers", "1"],
                env={**os.environ, "PYTHONPATH": str(REPO), **env,
                     "GENMILL_DATA_DIR": str(data)},
                cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True))
        yield
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(60)


def measure(database_url: str, data_dir: Path, count: int,
            machines: int = 0) -> tuple[list[float], list[float]]:
    env = {"GENMILL_DATA_DIR": str(data_dir), "GENMILL_DATABASE_URL": database_url,
           "GENMILL_PLUGINS": MODEL_PLUGIN, "GENMILL_API_KEYS": ""}
    latencies, round_trips = [], []
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(Server("genmill", env, workers=0 if machines else 1))
        if machines:
            stack.enter_context(worker_machines(env, data_dir.parent, machines))
        client = stack.enter_context(httpx.Client(base_url=server.url))
        while httpx.get(server.url + "/readyz").status_code != 200:
            time.sleep(0.1)
        for index in range(count + 3):
            started = time.perf_counter()
            response = client.post("/v1/images/generations/async",
                                   json={"model": "test/steps-t2i", "steps": 1, "step_ms": 0})
            round_trip = time.perf_counter() - started
            task_id = response.json()["task_id"]
            while True:
                data = client.get(f"/v1/images/generations/async/{task_id}").json()["data"]
                if data["status"] in ("SUCCESS", "FAILURE"):
                    break
                time.sleep(0.01)
            if index < 3:
                continue  # warm-up: first claims load the engine
            row = client.get(f"/v1/images/generations/async/{task_id}").json()["data"]
            assert row["status"] == "SUCCESS", row
            latencies.append(_dispatch_latency(database_url, task_id))
            round_trips.append(round_trip)
            time.sleep(0.2)  # the worker is idle again, waiting
    return latencies, round_trips


def _dispatch_latency(database_url: str, task_id: str) -> float:
    from sqlalchemy import select

    from genmill.store.connector import Database
    from genmill.store.schema import tasks

    db = Database(database_url)
    with db.read() as conn:
        submit, start = conn.execute(
            select(tasks.c.submit_time, tasks.c.start_time).where(tasks.c.id == task_id)
        ).one()
    db.dispose()
    return start - submit


def report(name: str, latencies: list[float], round_trips: list[float]) -> None:
    median = statistics.median(latencies) * 1000
    p90 = statistics.quantiles(latencies, n=10)[-1] * 1000
    rtt = statistics.median(round_trips) * 1000
    print(f"{name:>10}: submit->IN_PROGRESS median {median:6.1f} ms  p90 {p90:6.1f} ms  "
          f"(submit round trip {rtt:5.1f} ms; ratio {median / rtt:4.1f}x)  "
          f"{'OK' if median <= 50 else 'OVER'} (target <= 50 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--machines", type=int, default=0,
                        help="also: PostgreSQL, API alone + this many worker processes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report("SQLite", *measure(f"sqlite:///{tmp}/genmill.db", Path(tmp), args.tasks))
    import psycopg

    name = f"genmill_bench_{secrets.token_hex(4)}"
    admin = psycopg.connect(args.postgres, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = args.postgres.rpartition("/")[0] + "/" + name
            report("PostgreSQL", *measure(url, Path(tmp) / "api", args.tasks))
        if args.machines:
            with tempfile.TemporaryDirectory() as tmp:
                (Path(tmp) / "api").mkdir()
                report(f"PG {args.machines}+API", *measure(url, Path(tmp) / "api", args.tasks,
                                                           args.machines))
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()
