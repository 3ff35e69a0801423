"""Status-poll throughput: GET /v1/video/generations/{id} against three baselines.

One HTTP process per server (granian), 64 connections (wrk), 100,000 tasks in the store,
polls spread over 1,000 of them. Baselines, all measured in this run, alternating:

- the bare route: a route in the same genmill app (same middlewares: access log, auth,
  body cap, error handling) returning a constant body of a status's size, so
  status/bare isolates what a status lookup costs;
- the minimal app: granian + a one-route Starlette app returning the same bytes, so
  bare/minimal is what genmill's own app costs per request (target >= 0.8);
- with `--database postgresql`: the same poll on SQLite, against which the PostgreSQL poll
  is measured (same tasks, same ids; target: rps ratio >= 0.7, p99 ratio <= 3).

Each line also gives the server's CPU time per request (its processes' user + system time
over the requests wrk saw answered): on a machine shared with other programs it moves less
than requests/s, since it does not count the time the server waited for a core.

Ten of the 1,000 polled tasks are running. A last set of runs polls while another
connection commits progress updates to them (`--writes`), so the read path is also
measured while the polled statuses change (each change makes a memo read the task again).

    python bench/poll.py [--database sqlite|postgresql] [--tasks 100000] [--seconds 8]
                         [--rounds 3] [--writes 20]
Needs wrk (apt-get install wrk); for postgresql a server at GENMILL_BENCH_POSTGRES_URL
(default postgresql://postgres@127.0.0.1:5432/test), where a scratch database is made.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import (  # noqa: E402
    Server,
    median_of,
    repeating,
    scratch_postgres,
    seed_tasks,
    wrk,
    wrk_cpu,
)

KEY = "bench-key-0123456789"
BARE_PATH = "/bench/constant/"
STATUS_PATH = "/v1/video/generations/"


def make_app():
    """The genmill app plus one bare route returning a constant of a status's size."""
    from starlette.responses import Response
    from starlette.routing import Route

    from genmill.api.app import app_from_env

    app = app_from_env()
    body = Path(os.environ["GENMILL_BENCH_BODY"]).read_bytes()

    async def constant(request) -> Response:
        return Response(body, media_type="application/json")

    # A plain route at the front, like the status routes: the same routing cost.
    app.router.routes.insert(0, Route(BARE_PATH + "{task_id}", constant, methods=["GET"]))

    return app


def minimal_app():
    """granian + Starlette and nothing else: the floor a Python ASGI app stands on."""
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    body = Path(os.environ["GENMILL_BENCH_BODY"]).read_bytes()

    async def constant(request) -> Response:
        return Response(body, media_type="application/json")

    return Starlette(routes=[Route(BARE_PATH + "{task_id}", constant, methods=["GET"])])


@contextlib.contextmanager
def progress_writer(database_url: str, per_second: int, running: list[str]):
    """Commit `per_second` progress updates a second, spread over the `running` tasks
    (which the polls include: each update makes the next poll of its task read it)."""
    from sqlalchemy import bindparam, update

    from genmill.store.connector import Database
    from genmill.store.schema import tasks

    db = Database(database_url)
    statement = (update(tasks).where(tasks.c.id == bindparam("task_id"))
                 .values(progress=bindparam("progress"), message=bindparam("message")))

    def write(n: int) -> None:
        with db.write() as conn:
            conn.execute(statement, {"task_id": running[n % len(running)],
                                     "progress": n % 100, "message": f"{n}"})

    started = time.monotonic()
    try:
        with repeating(1 / per_second, write) as writes:
            yield
    finally:
        print(f"         ({writes[0] / (time.monotonic() - started):.0f} writes/s committed)")
        db.dispose()


def measure_rounds(servers: dict[str, Server], rounds: int, seconds: int,
                   headers: dict[str, str], script: str) -> dict[str, list[dict]]:
    """Warm each server up, then `rounds` wrk runs of each, alternating (a change of the
    machine's load hits every side); the load average before and after is printed."""
    for server in servers.values():
        wrk(server.url, seconds=2, headers=headers, script=script)
    print(f"load average before: {_load()}", flush=True)
    runs: dict[str, list[dict]] = {label: [] for label in servers}
    for _ in range(rounds):
        for label, server in servers.items():
            runs[label].append(wrk_cpu(server, seconds=seconds, headers=headers,
                                       script=script))
    print(f"load average after:  {_load()}")
    return runs


def _script(tmp: Path, name: str, prefix: str, ids: list[str]) -> str:
    """A wrk Lua script cycling over `ids`: every run generates requests the same way,
    so wrk's own cost is the same on both sides of each ratio."""
    path = tmp / f"{name}.lua"
    path.write_text(
        "ids = {" + ",".join(json.dumps(i) for i in ids) + "}\n"
        "counter = 0\n"
        "request = function()\n"
        "  counter = counter + 1\n"
        f"  return wrk.format('GET', '{prefix}' .. ids[(counter % #ids) + 1])\n"
        "end\n"
    )
    return str(path)


def bare_route_setup(tmp: Path) -> tuple[dict[str, str], dict[str, str], str]:
    """For benches of the bare route alone (bench/poll_layers.py, poll_revisions.py): a
    SQLite store of 1,000 tasks under `tmp`, a 419-byte body (a status document's size),
    the servers' environment, the request headers and the wrk script over those tasks."""
    data = tmp / "data"
    database = f"sqlite:///{data / 'genmill.db'}"
    ids = seed_tasks(database, 1000, owner="bench")
    body = tmp / "body.json"
    body.write_bytes(b"x" * 419)
    env = {"GENMILL_DATA_DIR": str(data), "GENMILL_DATABASE_URL": database,
           "GENMILL_API_KEYS": f"bench:{KEY}", "GENMILL_LOG_JSON": "0",
           "GENMILL_BENCH_BODY": str(body)}
    return env, {"Authorization": f"Bearer {KEY}"}, _script(tmp, "bare", BARE_PATH, ids)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite",
                        help="postgresql: measure its poll against SQLite's, in one run")
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--writes", type=int, default=20,
                        help="progress commits per second during the last runs")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_name, contextlib.ExitStack() as stack:
        tmp = Path(tmp_name)
        data = tmp / "data"
        urls = {"sqlite": f"sqlite:///{data / 'genmill.db'}"}
        if args.database == "postgresql":
            urls["postgresql"] = stack.enter_context(scratch_postgres())
        print(f"seeding {args.tasks:,} tasks into {', '.join(urls)} ...", flush=True)
        ids = seed_tasks(list(urls.values()), args.tasks - 10, owner="bench")
        running = seed_tasks(list(urls.values()), 10, owner="bench", status="IN_PROGRESS")
        sample = random.Random(1).sample(ids, 990) + running  # the writes change these 10
        body_path = tmp / "body.json"
        env = {"GENMILL_DATA_DIR": str(data), "GENMILL_API_KEYS": f"bench:{KEY}",
               "GENMILL_LOG_JSON": "0", "GENMILL_BENCH_BODY": str(body_path)}
        headers = {"Authorization": f"Bearer {KEY}"}
        # The constant body: one real status document, so every route sends the same bytes.
        with Server("genmill", env) as probe:
            real = httpx.get(f"{probe.url}{STATUS_PATH}{sample[0]}", headers=headers)
            assert real.status_code == 200, real.text
            body_path.write_bytes(real.content)
        bare_script = _script(tmp, "bare", BARE_PATH, sample)
        status_script = _script(tmp, "status", STATUS_PATH, sample)

        servers = {"minimal": stack.enter_context(Server("bench.poll:minimal_app", env))}
        for name, url in urls.items():
            servers[name] = stack.enter_context(
                Server("bench.poll:make_app", {**env, "GENMILL_DATABASE_URL": url}))
        runs: dict[str, list[dict]] = {}

        def measure(label: str, server: str, script: str) -> None:
            runs.setdefault(label, []).append(
                wrk_cpu(servers[server], seconds=args.seconds, headers=headers, script=script))

        for name in urls:  # warm each store's caches
            wrk(servers[name].url, seconds=2, headers=headers, script=status_script)
        print(f"load average before: {_load()}", flush=True)
        for _ in range(args.rounds):  # alternating, so a change of load hits every side
            measure("minimal app", "minimal", bare_script)
            measure("bare route", "sqlite", bare_script)
            for name in urls:
                measure(f"status {name}", name, status_script)
        for name, url in urls.items():
            with progress_writer(url, args.writes, running):
                for _ in range(args.rounds):
                    measure(f"status {name} writing", name, status_script)
        print(f"load average after:  {_load()}")

        for label, done in runs.items():
            assert all(r["non2xx"] == 0 for r in done), f"{label}: non-2xx responses"
            print(f"{label:>26}: {median_of(done, 'rps'):9.0f} req/s  "
                  f"p50 {median_of(done, 'p50'):6.2f} ms  p99 {median_of(done, 'p99'):6.2f} ms  "
                  f"CPU {median_of(done, 'cpu_us'):6.1f} µs/request")

        def ratio(a: str, b: str, key: str = "rps") -> float:
            return median_of(runs[a], key) / median_of(runs[b], key)

        print(f"bare route / minimal app:      {ratio('bare route', 'minimal app'):.2f} "
              "(target >= 0.80; CPU per request, minimal / bare: "
              f"{ratio('minimal app', 'bare route', 'cpu_us'):.2f})")
        print(f"status sqlite / bare route:    {ratio('status sqlite', 'bare route'):.2f} "
              f"(p99 ratio {ratio('status sqlite', 'bare route', 'p99'):.2f})")
        if "postgresql" in urls:
            print(f"status postgresql / sqlite:    "
                  f"{ratio('status postgresql', 'status sqlite'):.2f} (target >= 0.70)")
            print(f"p99 postgresql / sqlite:       "
                  f"{ratio('status postgresql', 'status sqlite', 'p99'):.2f} (target <= 3.00)")
            print(f"while {args.writes} writes/s, postgresql / sqlite: "
                  f"{ratio('status postgresql writing', 'status sqlite writing'):.2f}")
        print(f"status sqlite while {args.writes} writes/s / bare: "
              f"{ratio('status sqlite writing', 'bare route'):.2f} (no target)")
        print(f"body size: {body_path.stat().st_size} bytes, {args.tasks:,} tasks stored")


if __name__ == "__main__":
    main()
