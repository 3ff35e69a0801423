"""Status-poll throughput: GET /v1/video/generations/{id} vs a bare constant-JSON route.

One server process (granian), 64 connections (wrk), 100,000 tasks in the store, polls
spread over 1,000 of them. The bare route lives in the same app and returns a constant
body of the same size, so the ratio isolates what a status lookup costs.

A third run polls while another connection commits progress updates (`--writes`, as many
running tasks would), so the read path is also measured when the store keeps changing.

    python bench/poll.py [--tasks 100000] [--seconds 8] [--rounds 3] [--writes 20]
Needs wrk (apt-get install wrk). Target: rps ratio >= 0.7, p99 ratio <= 3.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Server, median_of, seed_tasks, wrk  # noqa: E402

KEY = "bench-key-0123456789"


def make_app():
    """The genmill app plus one bare route returning a constant of a status's size."""
    from starlette.responses import Response
    from starlette.routing import Route

    from genmill.api.app import app_from_env

    app = app_from_env()
    body = Path(__import__("os").environ["GENMILL_BENCH_BODY"]).read_bytes()

    async def constant(request) -> Response:
        return Response(body, media_type="application/json")

    # A plain route at the front, like the status routes: the same routing cost.
    app.router.routes.insert(0, Route("/bench/constant/{task_id}", constant, methods=["GET"]))

    return app


@contextlib.contextmanager
def progress_writer(database_url: str, per_second: int):
    """Commit `per_second` progress updates a second, spread over 10 running tasks."""
    from genmill.domain import Kind, Status, Task, new_task_id
    from genmill.store.connector import Database
    from genmill.store.tasks import TaskStore

    store = TaskStore(Database(database_url))
    running = []
    for _ in range(10):
        task = Task(id=new_task_id(Kind.VIDEO), kind=Kind.VIDEO, action=Kind.VIDEO.action,
                    model="bench/model", owner="bench", status=Status.QUEUED,
                    params={"prompt": "running"}, submit_time=time.time())
        store.insert(task)
        running.append(store.claim("bench-writer", 3600).id)
    stop = threading.Event()
    writes = [0]

    def write() -> None:
        while not stop.wait(1 / per_second):
            writes[0] += 1
            task_id = running[writes[0] % len(running)]
            store.set_progress(task_id, "bench-writer", min(99, writes[0] // 10), f"{writes[0]}")

    thread = threading.Thread(target=write, daemon=True)
    started = time.monotonic()
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        print(f"         ({writes[0] / (time.monotonic() - started):.0f} writes/s committed)")
        store.db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--writes", type=int, default=20,
                        help="progress commits per second during the third run")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        url = f"sqlite:///{data / 'genmill.db'}"
        print(f"seeding {args.tasks:,} tasks ...", flush=True)
        ids = seed_tasks(url, args.tasks, owner="bench")
        sample = random.Random(1).sample(ids, 1000)
        env = {"GENMILL_DATA_DIR": str(data), "GENMILL_API_KEYS": f"bench:{KEY}",
               "GENMILL_LOG_JSON": "0", "GENMILL_BENCH_BODY": str(Path(tmp) / "body.json")}
        headers = {"Authorization": f"Bearer {KEY}"}
        # The constant body: one real status document, so both routes send the same bytes.
        with Server("genmill", env) as probe:
            real = httpx.get(f"{probe.url}/v1/video/generations/{sample[0]}", headers=headers)
            assert real.status_code == 200, real.text
            Path(env["GENMILL_BENCH_BODY"]).write_bytes(real.content)
        # Both runs generate requests the same way (a Lua script over the same ids), so
        # wrk's own cost is the same on both sides of the ratio.
        scripts = {}
        for name, prefix in (("bare", "/bench/constant/"), ("status", "/v1/video/generations/")):
            scripts[name] = Path(tmp) / f"{name}.lua"
            scripts[name].write_text(
                "ids = {" + ",".join(json.dumps(i) for i in sample) + "}\n"
                "counter = 0\n"
                "request = function()\n"
                "  counter = counter + 1\n"
                f"  return wrk.format('GET', '{prefix}' .. ids[(counter % #ids) + 1])\n"
                "end\n"
            )
        bare_runs, status_runs, writing_runs = [], [], []
        with Server("bench.poll:make_app", env) as server:
            wrk(server.url, seconds=2, headers=headers, script=str(scripts["status"]))  # warm
            for _ in range(args.rounds):
                bare_runs.append(wrk(server.url, seconds=args.seconds, headers=headers,
                                     script=str(scripts["bare"])))
                status_runs.append(wrk(server.url, seconds=args.seconds, headers=headers,
                                       script=str(scripts["status"])))
            with progress_writer(url, args.writes):
                for _ in range(args.rounds):
                    writing_runs.append(wrk(server.url, seconds=args.seconds, headers=headers,
                                            script=str(scripts["status"])))
        for name, runs in (("bare", bare_runs), ("status", status_runs),
                           ("status while writing", writing_runs)):
            assert all(r["non2xx"] == 0 for r in runs), f"{name}: non-2xx responses"
            print(f"{name:>20}: {median_of(runs, 'rps'):9.0f} req/s  "
                  f"p50 {median_of(runs, 'p50'):6.2f} ms  p99 {median_of(runs, 'p99'):6.2f} ms")
        rps_ratio = median_of(status_runs, "rps") / median_of(bare_runs, "rps")
        p99_ratio = median_of(status_runs, "p99") / median_of(bare_runs, "p99")
        writing_ratio = median_of(writing_runs, "rps") / median_of(bare_runs, "rps")
        print(f"status/bare throughput ratio: {rps_ratio:.2f} (target >= 0.70)")
        print(f"status/bare p99 ratio:        {p99_ratio:.2f} (target <= 3.00)")
        print(f"status while {args.writes} writes/s / bare: {writing_ratio:.2f} (no target)")
        print(f"body size: {len(Path(env['GENMILL_BENCH_BODY']).read_bytes())} bytes, "
              f"{args.tasks:,} tasks stored")


if __name__ == "__main__":
    main()
