"""Webhook latency: a task's final write -> its receiver's 2xx, with a hanging receiver.

One `genmill serve` (SQLite, one worker) delivers `task.completed` events to a receiver
on a loopback port. Latency is the moment the receiver has the request (it answers 200
at once) minus the task's `finish_time` (stamped by the worker as it writes the final
status); both clocks are this machine's. Tasks run one after another.

The baseline, measured in the same run: the same tasks with no other receiver. Then the
same again while another receiver hangs 30 s on every request (more of its deliveries are
due than it has slots, so all of its slots stay busy). The ratio shows what the hanging
receiver costs the healthy one.

    python bench/webhooks.py [--tasks 20]
Target: median <= 100 ms with the hanging receiver.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Server  # noqa: E402

SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
HANG_SECONDS = 30.0
IMAGES = "/v1/images/generations/async"


class Receiver:
    """Records when each task's event arrived; `hang` holds every request 30 s."""

    def __init__(self, hang: bool = False) -> None:
        self.arrived: dict[str, float] = {}
        self.open = 0
        self.stopping = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (the http.server API)
                now = time.time()
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if hang:
                    receiver.open += 1
                    receiver.stopping.wait(HANG_SECONDS)
                    receiver.open -= 1
                else:
                    import json

                    receiver.arrived[json.loads(body)["data"]["task_id"]] = now
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def finish_time(database_url: str, task_id: str) -> float:
    from sqlalchemy import select

    from genmill.store.connector import Database
    from genmill.store.schema import tasks

    db = Database(database_url)
    with db.read() as conn:
        value = conn.execute(select(tasks.c.finish_time).where(tasks.c.id == task_id)).scalar()
    db.dispose()
    return value


def run_tasks(client: httpx.Client, url: str, receiver: Receiver, database_url: str,
              count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        task_id = client.post(IMAGES, json={"model": "test/steps-t2i", "steps": 1,
                                            "step_ms": 0, "webhook": url}).json()["task_id"]
        deadline = time.monotonic() + 30
        while task_id not in receiver.arrived:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no webhook for {task_id} in 30 s")
            time.sleep(0.002)
        latencies.append(receiver.arrived[task_id] - finish_time(database_url, task_id))
    return latencies


def describe(name: str, latencies: list[float]) -> float:
    median = statistics.median(latencies) * 1000
    p99 = statistics.quantiles(latencies, n=100)[-1] * 1000
    print(f"{name:>28}: median {median:6.1f} ms  p99 {p99:6.1f} ms  ({len(latencies)} tasks)")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    args = parser.parse_args()
    quick, hanging = Receiver(), Receiver(hang=True)
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite:///{tmp}/genmill.db"
        env = {"GENMILL_DATA_DIR": tmp, "GENMILL_DATABASE_URL": database_url,
               "GENMILL_PLUGINS": "tests.engines", "GENMILL_API_KEYS": "",
               "GENMILL_WEBHOOK_SECRET": SECRET, "GENMILL_ALLOW_PRIVATE_WEBHOOKS": "1"}
        with Server("genmill", env, workers=1) as server, \
                httpx.Client(base_url=server.url, timeout=30) as client:
            while client.get("/readyz").status_code != 200:
                time.sleep(0.1)
            run_tasks(client, quick.url, quick, database_url, 3)  # warm-up
            baseline = describe("baseline (no other receiver)",
                                run_tasks(client, quick.url, quick, database_url, args.tasks))
            for _ in range(8):  # more than the hanging receiver's slots (4 per process)
                client.post(IMAGES, json={"model": "test/steps-t2i", "steps": 1,
                                          "step_ms": 0, "webhook": hanging.url})
            deadline = time.monotonic() + 30
            while hanging.open < 4 and time.monotonic() < deadline:
                time.sleep(0.05)
            held = hanging.open
            loaded = describe("with a receiver hanging 30 s",
                              run_tasks(client, quick.url, quick, database_url, args.tasks))
            print(f"hanging receiver held {held} -> {hanging.open} requests open during the "
                  f"run; ratio (hanging / baseline median): {loaded / baseline:.2f}x; "
                  f"{'OK' if loaded <= 100 else 'OVER'} (target median <= 100 ms)")
    quick.close()
    hanging.close()


if __name__ == "__main__":
    main()
