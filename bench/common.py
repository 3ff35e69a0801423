"""What the benchmarks share: seeding a store, starting servers, driving wrk."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        sys.exit(f"{tool} is needed: apt-get install {package}")
    return path


def seed_tasks(database_url: str | list[str], count: int, owner: str = "", kind: str = "video",
               status: str = "SUCCESS", model: str = "bench/model") -> list[str]:
    """Insert `count` finished tasks in bulk (the same ones into each database given);
    returns their ids."""
    from sqlalchemy import insert

    from genmill.domain import Kind, Status, Task, new_task_id
    from genmill.store.connector import Database
    from genmill.store.schema import tasks
    from genmill.store.tasks import _task_to_values

    urls = [database_url] if isinstance(database_url, str) else database_url
    databases = [Database(url) for url in urls]
    for db in databases:
        db.migrate()
    ids: list[str] = []
    now = time.time()
    batch: list[dict] = []
    for i in range(count):
        task = Task(id=new_task_id(Kind(kind)), kind=Kind(kind), action=Kind(kind).action,
                    model=model, owner=owner, status=Status(status),
                    params={"prompt": "a bench", "seed": i}, progress=100,
                    outputs=["video-1.mp4", "poster.jpg"], submit_time=now - 60,
                    start_time=now - 50, finish_time=now - 10, attempts=1, max_attempts=2,
                    time_limit=600)
        ids.append(task.id)
        batch.append(_task_to_values(task))
        if len(batch) == 5000 or i == count - 1:
            for db in databases:
                with db.write() as conn:
                    conn.execute(insert(tasks), batch)
            batch = []
    for db in databases:
        db.dispose()
    return ids


POSTGRES_URL = os.environ.get("GENMILL_BENCH_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/test")


@contextlib.contextmanager
def scratch_postgres(base_url: str = POSTGRES_URL) -> Iterator[str]:
    """A new empty PostgreSQL database on the server of `base_url`, dropped afterwards."""
    import psycopg

    name = f"genmill_bench_{secrets.token_hex(4)}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base_url.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Server:
    """An ASGI app factory served by granian in a subprocess, one HTTP process."""

    def __init__(self, factory: str, env: dict[str, str], workers: int = 0,
                 repo: Path = REPO) -> None:
        """`repo`: the source tree to serve from (another revision's, say)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.repo = repo
        self.env = {**os.environ, "PYTHONPATH": str(repo), **env}
        self.factory = factory
        self.workers = workers
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        if self.factory == "genmill":
            command = [sys.executable, "-m", "genmill", "serve", "--port", str(self.port),
                       "--workers", str(self.workers)]
        else:
            command = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory",
                       "--port", str(self.port), "--workers", "1", "--no-ws",
                       self.factory]
        self.process = subprocess.Popen(command, env=self.env, cwd=self.repo,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                httpx.get(self.url + "/healthz", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.__exit__()  # else nothing stops it: the with block never began
        raise RuntimeError("server did not start")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server: its process and every
        descendant (granian's worker), read from /proc (Linux)."""
        tick = os.sysconf("SC_CLK_TCK")
        total, pids = 0.0, [self.process.pid]
        while pids:
            pid = pids.pop()
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
                total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
                for task in Path(f"/proc/{pid}/task").iterdir():
                    pids += map(int, (task / "children").read_text().split())
            except (FileNotFoundError, ProcessLookupError):
                continue
        return total

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:  # still starting up, before its signal handlers
            self.process.kill()
            self.process.wait()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def wrk(url: str, connections: int = 64, seconds: int = 8, threads: int = 1,
        script: str | None = None, headers: dict[str, str] | None = None) -> dict[str, float]:
    """Requests/s, requests done and latency percentiles (ms) from one wrk run."""
    command = [require("wrk", "wrk"), f"-t{threads}", f"-c{connections}", f"-d{seconds}s",
               "--latency"]
    for key, value in (headers or {}).items():
        command += ["-H", f"{key}: {value}"]
    if script:
        command += ["-s", script]
    out = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    result["requests"] = int(re.search(r"(\d+) requests in", out).group(1))
    for pct in ("50", "99"):
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        result[f"p{pct}"] = float(match.group(1)) * _UNITS[match.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non2xx"] = int(errors.group(1)) if errors else 0
    return result


def median_of(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def wrk_cpu(server: Server, **kwargs) -> dict[str, float]:
    """wrk against `server`, plus the server's CPU per request (µs, "cpu_us"): steadier
    than requests/s on a shared machine, where wrk and other programs take turns."""
    before = server.cpu_seconds()
    result = wrk(server.url, **kwargs)
    result["cpu_us"] = (server.cpu_seconds() - before) / max(1, result["requests"]) * 1e6
    return result


@contextlib.contextmanager
def repeating(interval: float, action: Callable[[int], None]) -> Iterator[list[int]]:
    """Call `action(1)`, `action(2)`, ... every `interval` s on a thread of its own while
    the block runs; yields a one-item list holding how many calls were made."""
    stop = threading.Event()
    done = [0]

    def run() -> None:
        while not stop.wait(interval):
            done[0] += 1
            action(done[0])

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield done
    finally:
        stop.set()
        thread.join()
