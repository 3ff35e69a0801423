"""Do polls through two API processes on PostgreSQL ever show an older status than the one
just seen? With the status memo (GENMILL_STATUS_MEMO=1, the default) and without it.

Two `genmill serve --workers 0` processes on one scratch PostgreSQL database; one task
whose shown `fail_reason` a writer sets to a rising counter every `--interval` ms; one
client that polls the two processes back to back (A then B, then B then A) for
`--seconds`, and counts the pairs where the second answer was older than the first.
Baseline, measured in the same run: the same with GENMILL_STATUS_MEMO=0, where every
poll reads the database (expected 0). Printed: pairs, regressions, regressions per
10,000 pairs, polls/s of the client; and the regressions' ratio, memo / baseline.

This is the adversarial case: a task that changes every few milliseconds and a client
that asks a second process within a millisecond of the first answer, on loopback. A
memo's answer is as fresh as the notifications that have reached its process, and a
notification can take longer to arrive than such a client's next request.

    python bench/poll_monotonic.py [--seconds 30] [--interval 2]
Needs a PostgreSQL server at GENMILL_BENCH_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/test), where a scratch database is made.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Server, repeating, scratch_postgres, seed_tasks  # noqa: E402

KEY = "bench-key-0123456789"
STATUS = "/v1/images/generations/async/"


@contextlib.contextmanager
def counter_writer(database_url: str, task_id: str, interval: float):
    """Set the task's fail_reason to 1, 2, 3, ... every `interval` s, each committed."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        def write(value: int) -> None:
            conn.execute("UPDATE tasks SET fail_reason = %s WHERE id = %s",
                         [str(value), task_id])

        with repeating(interval, write):
            yield


def regressions(urls: list[str], task_id: str, seconds: float) -> tuple[int, int, float]:
    """Pairs polled and pairs whose second answer was older than the first; polls/s."""
    headers = {"Authorization": f"Bearer {KEY}"}
    pairs = older = 0
    with httpx.Client(headers=headers) as a, httpx.Client(headers=headers) as b:
        clients = [(a, urls[0]), (b, urls[1])]
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            for first, second in (clients, clients[::-1]):
                values = []
                for client, url in (first, second):
                    answer = client.get(url + STATUS + task_id)
                    answer.raise_for_status()
                    values.append(int(answer.json()["data"]["fail_reason"] or 0))
                pairs += 1
                older += values[1] < values[0]
        elapsed = time.monotonic() - started
    return pairs, older, 2 * pairs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--interval", type=float, default=2, help="ms between changes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, scratch_postgres() as database:
        [task_id] = seed_tasks(database, 1, owner="bench", kind="image", status="IN_PROGRESS")
        results = {}
        for memo in ("0", "1"):
            env = {"GENMILL_DATABASE_URL": database, "GENMILL_API_KEYS": f"bench:{KEY}",
                   "GENMILL_STATUS_MEMO": memo}
            with Server("genmill", {**env, "GENMILL_DATA_DIR": f"{tmp}/a{memo}"}) as one, \
                    Server("genmill", {**env, "GENMILL_DATA_DIR": f"{tmp}/b{memo}"}) as two, \
                    counter_writer(database, task_id, args.interval / 1000):
                results[memo] = regressions([one.url, two.url], task_id, args.seconds)
    for memo, label in (("0", "no memo (baseline)"), ("1", "status memo")):
        pairs, older, rate = results[memo]
        print(f"{label:>20}: {pairs:7,} pairs, {older:4} older on the second process "
              f"({older / pairs * 10_000:5.2f} per 10,000), {rate:6.0f} polls/s")
    print(f"regressions, memo / baseline: {results['1'][1]} / {results['0'][1]} "
          f"(a change every {args.interval:g} ms, {args.seconds:g} s each)")


if __name__ == "__main__":
    main()
