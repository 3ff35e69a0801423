"""A whole deployment on loopback, traffic against it and faults to inject into it: the
parts of bench/chaos.py that tests/test_chaos.py reuses.

- `PrivatePostgres`: a PostgreSQL cluster of our own (Debian's initdb/pg_ctl, a temp
  directory, its own port), so that a restart never touches the machine's shared server.
- `Deployment`: `genmill serve` processes (API-only, or with workers on SQLite) and
  `genmill worker` processes on one database; kill -9 and restart any of them.
- `Traffic`: threads that submit steadily (with an Idempotency-Key, retried as a careful
  client would) and poll every task until it ends, recording every client-visible error.
- `WebhookReceiver`: records deliveries by webhook-id; can hang for a while.
- `journal_overlaps`: two runs of one task that overlapped in time, read from the journal
  the `test/journal-t2i` engine (tests/engines.py) writes.
"""

from __future__ import annotations

import contextlib
import glob
import http.server
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import KEYS, REPO, LiveServer, free_port

IMAGES = "/v1/images/generations/async"
MODEL = "test/journal-t2i"
FINAL = ("SUCCESS", "FAILURE")


# --- PostgreSQL of our own ------------------------------------------------------------

def postgres_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


class PrivatePostgres:
    """initdb + pg_ctl in a temp directory on a port of its own (trust auth, loopback).

    As root, the server runs as the `postgres` user (PostgreSQL refuses root)."""

    def __init__(self) -> None:
        self.bin = postgres_binaries()
        if self.bin is None:
            raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql")
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="genmill-pg-"))
        self.data = self.directory / "data"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as = []
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 120) -> None:
        subprocess.run([*self._as, *args], check=True, timeout=timeout,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> PrivatePostgres:
        if not self.data.exists():
            self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                      "-A", "trust", "--no-sync", "-E", "UTF8")
        options = (f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c max_connections=300")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l",
                  str(self.directory / "pg.log"), "-o", options, "-w", "-t", "60", "start")
        return self

    def create_database(self, name: str) -> str:
        """A second database on this cluster (e.g. for a relay's upstream); its URL."""
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                  "-U", "postgres", name)
        return self.url.rsplit("/", 1)[0] + "/" + name

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session (a clean restart); `immediate` is a crash."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w",
                      "stop")

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


# --- the deployment ----------------------------------------------------------------

def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


class WorkerNode:
    """`genmill worker` (a supervisor with its worker processes) as a subprocess."""

    def __init__(self, root: Path, env: dict[str, str], workers: int = 1) -> None:
        self.data = root / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.log_path = root / "worker.log"
        self.env, self.workers = env, workers
        self.process: subprocess.Popen | None = None

    def start(self) -> WorkerNode:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "genmill", "worker", "--workers", str(self.workers),
                 "--data-dir", str(self.data)],
                env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # kill -9 of the supervisor: its workers die with it
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class Deployment:
    """API processes and worker processes on one database, all on loopback.

    On SQLite there is one `genmill serve` with `workers` worker processes (SQLite is one
    machine's database); on PostgreSQL, `apis` API-only servers and `nodes`
    `genmill worker` processes of `workers` each, each with its own data directory."""

    def __init__(self, root: Path, database_url: str | None = None, apis: int = 2,
                 nodes: int = 2, workers: int = 2, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.sqlite = database_url is None
        self.database_url = database_url or f"sqlite:///{root / 'api-1' / 'data' / 'genmill.db'}"
        self.env = {"GENMILL_DATABASE_URL": self.database_url, **(env or {})}
        if self.sqlite:
            self.apis = [LiveServer(root / "api-1" / "data", env=self.env, workers=workers)]
            self.nodes: list[WorkerNode] = []
        else:
            self.apis = [LiveServer(root / f"api-{n}" / "data", env=self.env, workers=0)
                         for n in range(1, apis + 1)]
            self.nodes = [WorkerNode(root / f"worker-{n}", self.apis[0].env, workers)
                          for n in range(1, nodes + 1)]

    @property
    def urls(self) -> list[str]:
        return [api.url for api in self.apis]

    def start(self, timeout: float = 120) -> Deployment:
        for node in self.nodes:  # first: they start while the APIs do
            node.start()
        for api in self.apis:
            api.data_dir.parent.mkdir(parents=True, exist_ok=True)
            api.start(wait_ready=False, timeout=timeout)
        expected = sum(n.workers for n in self.nodes) if self.nodes else self.apis[0].workers
        deadline = time.monotonic() + timeout
        while len(self.worker_pids()) < expected:
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers did not register:\n{self.apis[0].log()}")
            time.sleep(0.3)
        return self

    def _query(self, sql: str) -> list[tuple]:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.database_url, poolclass=__import__(
            "sqlalchemy.pool", fromlist=["NullPool"]).NullPool)
        try:
            with engine.connect() as conn:
                return [tuple(row) for row in conn.execute(text(sql))]
        finally:
            engine.dispose()

    def worker_pids(self) -> list[int]:
        """Live worker processes (as registered in the database; all on this machine)."""
        try:
            rows = self._query("SELECT pid FROM workers")
        except Exception:  # the database is down: none known
            return []
        return [pid for (pid,) in rows if alive(pid)]

    def busy_workers(self) -> dict[int, str]:
        """Live worker pids that hold a running task: pid -> task id."""
        try:
            rows = self._query("SELECT id, lease_owner FROM tasks "
                               "WHERE status = 'IN_PROGRESS' AND lease_owner IS NOT NULL")
        except Exception:
            return {}
        busy = {}
        for task_id, owner in rows:  # a worker's id is host:pid:nonce
            pid = int(owner.rsplit(":", 2)[1])
            if alive(pid):
                busy[pid] = task_id
        return busy

    def relay_pids(self) -> dict[int, str]:
        """Relay runners that hold a relayed task (their ids hold ':relay-')."""
        try:
            rows = self._query("SELECT id, lease_owner FROM tasks "
                               "WHERE status = 'IN_PROGRESS' AND lease_owner IS NOT NULL")
        except Exception:
            return {}
        found = {int(owner.rsplit(":", 2)[1]): task_id for task_id, owner in rows
                 if ":relay-" in owner}
        return {pid: task_id for pid, task_id in found.items() if alive(pid)}

    def kill_worker(self, rng: random.Random) -> tuple[int, str | None] | None:
        """kill -9 one worker process, one in the middle of a task if any is (its
        supervisor restarts it): its pid and that task's id."""
        busy = self.busy_workers()
        if busy:
            pid = rng.choice(sorted(busy))
        else:
            pids = self.worker_pids()
            if not pids:
                return None
            pid = rng.choice(pids)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        return pid, busy.get(pid)

    def kill_api(self, index: int = 0) -> None:
        """kill -9 an API process (on SQLite, the one server with its workers)."""
        api = self.apis[index]
        api.process.kill()
        api.process.wait()
        api._log.close()

    def start_api(self, index: int = 0, timeout: float = 120) -> None:
        self.apis[index].start(wait_ready=False, timeout=timeout)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        for api in self.apis:
            with contextlib.suppress(Exception):
                api.stop()

    def logs(self) -> str:
        parts = [api.log() for api in self.apis]
        parts += [n.log_path.read_text(errors="replace")[-3000:] for n in self.nodes]
        return "\n----\n".join(parts)


# --- webhooks ----------------------------------------------------------------------

class WebhookReceiver:
    """An HTTP server that records each delivery (by webhook-id and type); `hang(s)`
    makes it hold every request for s seconds before answering, as a stuck receiver."""

    def __init__(self) -> None:
        self.received: dict[str, list[dict]] = defaultdict(list)  # task id -> events
        self.ids: set[str] = set()
        self.duplicates = 0
        self._hang_until = 0.0
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                import json

                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                wait = receiver._hang_until - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                event = json.loads(body)
                with receiver._lock:
                    webhook_id = self.headers.get("webhook-id", "")
                    if webhook_id in receiver.ids:
                        receiver.duplicates += 1
                    else:
                        receiver.ids.add(webhook_id)
                        receiver.received[event["data"]["task_id"]].append(event)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def hang(self, seconds: float) -> None:
        self._hang_until = time.monotonic() + seconds

    def completed(self, task_id: str) -> bool:
        with self._lock:
            return any(e["type"] == "task.completed" for e in self.received.get(task_id, ()))

    def close(self) -> None:
        self._hang_until = 0
        self.server.shutdown()


# --- traffic -------------------------------------------------------------------------

@dataclass
class Outcome:
    task_id: str
    submitted: float
    webhook: bool
    status: str = ""
    final_at: float | None = None
    fail_reason: str = ""


@dataclass
class Errors:
    """Client-visible errors: (time, route, what) per error."""

    items: list[tuple[float, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, route: str, what: str) -> None:
        with self.lock:
            self.items.append((time.monotonic(), route, what))


class Traffic:
    """Steady submits (`rate` per second, spread over the API URLs) and a poller that
    polls each unfinished task about every `poll_interval` s. A submit that fails is
    retried with the same Idempotency-Key until it is answered (a real client's way not
    to lose or duplicate a task); every failed try counts as a client-visible error."""

    def __init__(self, urls: list[str], rate: float, steps: int = 4, step_ms: int = 150,
                 poll_interval: float = 1.0, webhook_url: str | None = None,
                 webhook_share: float = 0.1, seed: int = 1, model: str = MODEL) -> None:
        self.urls, self.rate, self.steps, self.step_ms = urls, rate, steps, step_ms
        self.model = model
        self.poll_interval = poll_interval
        self.webhook_url, self.webhook_share = webhook_url, webhook_share
        self.rng = random.Random(seed)
        self.tasks: dict[str, Outcome] = {}
        self.errors = Errors()
        self.unanswered_submits = 0  # given up on after their retries: not acknowledged
        self._stop = threading.Event()
        self._submitting = threading.Event()
        self._submitting.set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        headers = {"Authorization": f"Bearer {KEYS['alice']}"}
        self.client = httpx.Client(headers=headers, timeout=10)

    def start(self) -> Traffic:
        for target in (self._submit_loop, self._poll_loop):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop_submitting(self) -> None:
        self._submitting.clear()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        self.client.close()

    def _submit_loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set() and self._submitting.is_set():
            self.submit_one()
            next_at += 1 / self.rate
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def submit_one(self, give_up_after: float = 120) -> str | None:
        key = secrets.token_hex(8)
        # The prompt names the submit, so a relay's upstream tasks can be traced to it.
        body = {"model": self.model, "prompt": f"chaos {key}", "steps": self.steps,
                "step_ms": self.step_ms}
        webhook = bool(self.webhook_url) and self.rng.random() < self.webhook_share
        if webhook:
            body["webhook"] = self.webhook_url
        deadline = time.monotonic() + give_up_after
        attempt = 0
        while time.monotonic() < deadline and not self._stop.is_set():
            url = self.urls[attempt % len(self.urls)]  # the next API on a failure
            attempt += 1
            try:
                response = self.client.post(url + IMAGES, json=body,
                                            headers={"Idempotency-Key": key})
            except httpx.HTTPError as exc:
                self.errors.add("submit", type(exc).__name__)
            else:
                if response.status_code == 200:
                    task_id = response.json()["task_id"]
                    with self._lock:
                        self.tasks.setdefault(task_id, Outcome(task_id, time.monotonic(),
                                                               webhook))
                    return task_id
                self.errors.add("submit", f"HTTP {response.status_code}")
            time.sleep(0.5)
        self.unanswered_submits += 1
        return None

    def pending(self) -> list[Outcome]:
        with self._lock:
            return [o for o in self.tasks.values() if o.final_at is None]

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            for outcome in self.pending():
                if self._stop.is_set():
                    return
                self.poll_one(outcome)
            self._stop.wait(max(0.05, self.poll_interval - (time.monotonic() - started)))

    def poll_one(self, outcome: Outcome) -> None:
        url = random.choice(self.urls)
        try:
            response = self.client.get(f"{url}{IMAGES}/{outcome.task_id}")
        except httpx.HTTPError as exc:
            self.errors.add("poll", type(exc).__name__)
            return
        if response.status_code != 200:
            self.errors.add("poll", f"HTTP {response.status_code}")
            return
        data = response.json()["data"]
        if data["status"] in FINAL:
            outcome.status, outcome.final_at = data["status"], time.monotonic()
            outcome.fail_reason = data.get("fail_reason") or ""

    def drain(self, timeout: float) -> list[Outcome]:
        """Poll until every task is final or `timeout` passes; those still not final."""
        deadline = time.monotonic() + timeout
        # A submit still being retried (e.g. refused by a full disk) is not answered yet:
        # wait for it too, or the drain could end before its task exists.
        self._threads[0].join(timeout)
        while self.pending() and time.monotonic() < deadline:
            time.sleep(0.5)
        return self.pending()


# --- the journal ---------------------------------------------------------------------

def read_journal(path: Path) -> dict[str, dict[str, list]]:
    """task id -> run token -> [pid, first time, last time, ended]."""
    runs: dict[str, dict[str, list]] = defaultdict(dict)
    if not path.exists():
        return runs
    for line in path.read_text().splitlines():
        try:
            token, task_id, pid, event, at = line.split()
        except ValueError:
            continue  # a line cut by a kill -9 mid-write
        run = runs[task_id].setdefault(token, [int(pid), float(at), float(at), False])
        run[2] = max(run[2], float(at))
        run[3] = run[3] or event == "end"
    return runs


def journal_overlaps(path: Path) -> list[tuple[str, list, list]]:
    """Runs of one task whose lifetimes overlapped: each run lives from its start to its
    last journal line, so an overlap means both were really running at one moment."""
    found = []
    for task_id, runs in read_journal(path).items():
        spans = sorted(runs.values(), key=lambda run: run[1])
        longest = spans[0]  # of the runs so far, the one that lived longest
        for later in spans[1:]:
            if later[1] < longest[2]:
                found.append((task_id, longest, later))
            if later[2] > longest[2]:
                longest = later
    return found


def journal_completions(path: Path) -> dict[str, int]:
    """Per task, how many runs reached their end (more than one: run twice, in turn)."""
    return {task_id: sum(run[3] for run in runs.values())
            for task_id, runs in read_journal(path).items()}
