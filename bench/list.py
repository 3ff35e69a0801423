"""Task-list page time with 1,000 vs 1,000,000 tasks stored.

Median time of `GET /api/v1/tasks?page=50&page_size=20` over a keep-alive connection,
one server process, SQLite. The page walks the (owner, seq) index and the total comes
from trigger-kept counts, so the ratio should stay near 1.

    python bench/list.py [--small 1000] [--large 1000000] [--requests 300]
Target: ratio <= 2.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Server, seed_tasks  # noqa: E402

PATH = "/api/v1/tasks?page=50&page_size=20"


def page_time(count: int, requests: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        seed_tasks(f"sqlite:///{tmp}/genmill.db", count)
        print(f"  seeded {count:,} tasks in {time.perf_counter() - started:.0f} s", flush=True)
        env = {"GENMILL_DATA_DIR": tmp, "GENMILL_API_KEYS": "", "GENMILL_LOG_JSON": "0"}
        with Server("genmill", env) as server, httpx.Client(base_url=server.url) as client:
            first = client.get(PATH).json()["data"]
            assert first["total"] == count and len(first["tasks"]) == 20, first["total"]
            for _ in range(20):
                client.get(PATH)  # warm caches
            times = []
            for _ in range(requests):
                started = time.perf_counter()
                client.get(PATH).raise_for_status()
                times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    small = page_time(args.small, args.requests)
    large = page_time(args.large, args.requests)
    print(f"{args.small:>9,} tasks: median {small * 1000:6.2f} ms")
    print(f"{args.large:>9,} tasks: median {large * 1000:6.2f} ms")
    print(f"ratio large/small: {large / small:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
