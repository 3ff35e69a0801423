"""Event fan-out: one server process holding many open event streams of one task.

A running task is seeded in a fresh SQLite store; one `genmill serve --workers 0` (one
granian HTTP process) serves it. The bench opens N streams of
`GET /v1/tasks/{id}/events` on raw loopback sockets, then commits progress changes
straight into the database (as a worker would) and times, per stream, the moment the
change arrives. Baseline (same run, same server): the same changes with one open stream.
The client is one Python process too, so its own scheduling is part of the figure (an
upper bound on the server's share).

    python bench/events.py [--streams 10000] [--changes 5]
Target: p99 <= 250 ms with 10,000 streams; RSS reported for the HTTP process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Server, seed_tasks  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def descendants(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        for child in Path(f"/proc/{parent}/task/{parent}/children").read_text().split():
            found.append(int(child))
            queue.append(int(child))
    return found


def http_process(server_pid: int, port: int) -> int:
    """The process that holds the listening socket's accepted streams: the one with the
    most open sockets among the server's processes."""
    def sockets(pid: int) -> int:
        try:
            return sum(1 for fd in Path(f"/proc/{pid}/fd").iterdir()
                       if os.readlink(fd).startswith("socket:"))
        except OSError:
            return 0
    return max(descendants(server_pid) or [server_pid], key=sockets)


class Stream:
    def __init__(self) -> None:
        self.buffer = b""
        self.arrived: dict[int, float] = {}

    async def open(self, port: int, task_id: str) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.writer.write(f"GET /v1/tasks/{task_id}/events HTTP/1.1\r\nHost: bench\r\n"
                          "Accept: text/event-stream\r\n\r\n".encode())
        await self.writer.drain()
        while b"event: status" not in self.buffer:  # the current state: subscribed
            self.buffer += await self.reader.read(65536)
        self.buffer = b""

    async def follow(self) -> None:
        while True:
            chunk = await self.reader.read(65536)
            if not chunk:
                return
            now = time.time()
            self.buffer += chunk
            while b'"progress":"' in self.buffer:
                head, _, rest = self.buffer.partition(b'"progress":"')
                value, _, self.buffer = rest.partition(b"%")
                self.arrived.setdefault(int(value), now)


async def measure(port: int, task_id: str, db_path: Path, streams: int, changes: int,
                  first_progress: int, server_pid: int) -> dict:
    opened: list[Stream] = []
    for start in range(0, streams, 500):
        batch = [Stream() for _ in range(min(500, streams - start))]
        await asyncio.gather(*(s.open(port, task_id) for s in batch))
        opened += batch
    followers = [asyncio.create_task(s.follow()) for s in opened]
    rss = rss_mb(http_process(server_pid, port))
    latencies: list[float] = []
    conn = sqlite3.connect(db_path, isolation_level=None)
    for progress in range(first_progress, first_progress + changes):
        written = time.time()
        conn.execute("UPDATE tasks SET progress = ? WHERE id = ?", (progress, task_id))
        while sum(progress in s.arrived for s in opened) < len(opened):
            await asyncio.sleep(0.01)
        latencies += [(s.arrived[progress] - written) * 1000 for s in opened]
        await asyncio.sleep(0.2)
    conn.close()
    for follower in followers:
        follower.cancel()
    for stream in opened:
        stream.writer.close()
    latencies.sort()
    return {"streams": streams, "rss_mb": round(rss, 1),
            "p50_ms": round(statistics.median(latencies), 1),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1),
            "max_ms": round(latencies[-1], 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "genmill.db"
        [task_id] = seed_tasks(f"sqlite:///{db_path}", 1, kind="image", status="IN_PROGRESS")
        with sqlite3.connect(db_path) as conn:
            conn.execute("UPDATE tasks SET progress = 0, outputs = '[]' WHERE id = ?",
                         (task_id,))
        env = {"GENMILL_DATA_DIR": tmp, "GENMILL_API_KEYS": "", "GENMILL_LOG_JSON": "0"}
        with Server("genmill", env) as server:
            idle = rss_mb(http_process(server.process.pid, server.port))
            one = asyncio.run(measure(server.port, task_id, db_path, 1, args.changes, 1,
                                      server.process.pid))
            many = asyncio.run(measure(server.port, task_id, db_path, args.streams,
                                       args.changes, 1 + args.changes, server.process.pid))
    print(json.dumps({"idle_rss_mb": round(idle, 1), "baseline_one_stream": one,
                      "many_streams": many,
                      "p99_ratio": round(many["p99_ms"] / max(one["p99_ms"], 0.1), 1)},
                     indent=2))


if __name__ == "__main__":
    main()
