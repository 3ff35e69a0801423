"""Submit throughput on PostgreSQL from 2 API processes, against 1 process on SQLite.

Two `genmill serve --workers 0` processes (each its own data dir) share one scratch
PostgreSQL database; wrk drives POST /v1/images/generations/async on both at once (32
connections each) and the submits/s are summed. The baseline, measured in the same run
just before: the same load on one process over SQLite, whose writers are serialised in
one file. No worker runs, so only submits touch the database.

    python bench/submit.py [--seconds 8]
Needs wrk; PostgreSQL at GENMILL_BENCH_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/test), where a scratch database is made.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Server, require, scratch_postgres  # noqa: E402

KEY = "bench-key-0123456789"
BODY = {"model": "test/steps-t2i", "prompt": "a bench", "steps": 1, "step_ms": 0}


def wrk_posts(urls: list[str], script: str, seconds: int, connections: int) -> list[dict]:
    """One wrk per URL, all at once; submits/s and non-2xx count of each."""
    runs = [subprocess.Popen([require("wrk", "wrk"), "-t1", f"-c{connections}",
                              f"-d{seconds}s", "--latency", "-s", script, url],
                             stdout=subprocess.PIPE, text=True) for url in urls]
    results = []
    for run in runs:
        out = run.communicate()[0]
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        scale = {"us": 1e-3, "ms": 1.0, "s": 1000.0}[p99.group(2)]
        results.append({"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
                        "p99": float(p99.group(1)) * scale,
                        "non2xx": int(errors.group(1)) if errors else 0})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32, help="per API process")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name, scratch_postgres() as pg_url:
        tmp = Path(tmp_name)
        script = tmp / "submit.lua"
        script.write_text(f"wrk.method = 'POST'\nwrk.body = '{json.dumps(BODY)}'\n"
                          "wrk.headers['Content-Type'] = 'application/json'\n"
                          f"wrk.headers['Authorization'] = 'Bearer {KEY}'\n"
                          "wrk.path = '/v1/images/generations/async'\n")
        base = {"GENMILL_API_KEYS": f"bench:{KEY}", "GENMILL_PLUGINS": "tests.engines",
                "GENMILL_LOG_JSON": "0"}
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        with Server("genmill", {**base, "GENMILL_DATA_DIR": str(tmp / "sqlite")}) as one:
            sqlite = wrk_posts([one.url], str(script), args.seconds, args.connections)
        env = {**base, "GENMILL_DATABASE_URL": pg_url}
        with Server("genmill", {**env, "GENMILL_DATA_DIR": str(tmp / "a")}) as a, \
                Server("genmill", {**env, "GENMILL_DATA_DIR": str(tmp / "b")}) as b:
            pg = wrk_posts([a.url, b.url], str(script), args.seconds, args.connections)
        print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name, runs in (("sqlite, 1 process", sqlite), ("postgresql, 2 processes", pg)):
        assert all(r["non2xx"] == 0 for r in runs), f"{name}: non-2xx responses"
        print(f"{name:>24}: {sum(r['rps'] for r in runs):8.0f} submits/s  "
              f"p99 {max(r['p99'] for r in runs):7.1f} ms")
    print(f"postgresql (2 processes) / sqlite (1): "
          f"{sum(r['rps'] for r in pg) / sum(r['rps'] for r in sqlite):.2f}")


if __name__ == "__main__":
    main()
