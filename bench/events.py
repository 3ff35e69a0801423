"""Event fan-out: one server process holding many open event streams of one task.

A running task is seeded in a fresh SQLite store; one `genmill serve --workers 0` (one
granian HTTP process) serves it. The bench opens N streams of
`GET /v1/tasks/{id}/events` on raw loopback sockets, then commits progress changes
straight into the database (as a worker would) and times, per stream, the moment the
change arrives. Baseline (same run, same server): the same changes with one open stream.
The client is one Python process reading every socket from one epoll loop (a few
microseconds per arrival), so its share of the figure is small but not nil: an upper bound
on the server's. `uptime` load is printed with the figures: the machine may be shared.

    python bench/events.py [--streams 10000] [--changes 5]
Target: p99 <= 250 ms with 10,000 streams; RSS reported for the HTTP process.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
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


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU time per kind of thread: granian's I/O threads (tokio, where the socket writes
    and the kernel's loopback TCP work are counted) and the rest (Python: the event loop,
    the hub, the thread pool)."""
    split = {"python": 0.0, "granian_io": 0.0}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            comm = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # a thread that ended meanwhile
        used = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        split["granian_io" if comm.startswith("tokio") else "python"] += used
    return split


def descendants(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        for child in Path(f"/proc/{parent}/task/{parent}/children").read_text().split():
            found.append(int(child))
            queue.append(int(child))
    return found


def http_process(server_pid: int) -> int:
    """The granian process that serves HTTP: the largest of the server's processes."""
    return max(descendants(server_pid) or [server_pid], key=rss_mb)


MARK = b'"progress":"'


class Streams:
    """N event streams read by one epoll loop on non-blocking sockets: a few microseconds
    per arrival, so that the client's own cost stays small beside the server's."""

    def __init__(self, port: int, task_id: str, count: int) -> None:
        self.selector = selectors.EpollSelector()
        self.buffers: dict[socket.socket, bytes] = {}
        self.arrived: dict[socket.socket, dict[int, float]] = {}
        request = (f"GET /v1/tasks/{task_id}/events HTTP/1.1\r\nHost: bench\r\n"
                   "Accept: text/event-stream\r\n\r\n").encode()
        for start in range(0, count, 500):
            batch = []
            for _ in range(min(500, count - start)):
                sock = socket.create_connection(("127.0.0.1", port))
                sock.sendall(request)
                batch.append(sock)
            for sock in batch:  # the current state first: then it is subscribed
                data = b""
                while b"event: status" not in data:
                    data += sock.recv(65536)
                sock.setblocking(False)
                self.selector.register(sock, selectors.EVENT_READ)
                self.buffers[sock], self.arrived[sock] = b"", {}

    def read(self, timeout: float) -> None:
        """Reads whatever arrived within `timeout` seconds, noting when each progress
        value first reached each stream."""
        for key, _ in self.selector.select(timeout):
            sock = key.fileobj
            try:
                chunk = sock.recv(65536)
            except BlockingIOError:
                continue
            now = time.time()
            buffer = self.buffers[sock] + chunk
            arrived = self.arrived[sock]
            while (at := buffer.find(MARK)) >= 0:
                end = buffer.find(b"%", at)
                if end < 0:
                    break
                arrived.setdefault(int(buffer[at + len(MARK):end]), now)
                buffer = buffer[end:]
            self.buffers[sock] = buffer[-64:]

    def close(self) -> None:
        for sock in self.buffers:
            self.selector.unregister(sock)
            sock.close()


def measure(port: int, task_id: str, db_path: Path, streams: int, changes: int,
            first_progress: int, server_pid: int) -> dict:
    opened = Streams(port, task_id, streams)
    http = http_process(server_pid)
    rss = rss_mb(http)
    cpu = cpu_seconds(http)
    threads = thread_cpu_seconds(http)
    client_cpu = time.process_time()
    latencies: list[float] = []
    conn = sqlite3.connect(db_path, isolation_level=None)
    for progress in range(first_progress, first_progress + changes):
        written = time.time()
        conn.execute("UPDATE tasks SET progress = ? WHERE id = ?", (progress, task_id))
        deadline = written + 60
        while (sum(progress in a for a in opened.arrived.values()) < streams
               and time.time() < deadline):
            opened.read(0.05)
        latencies += [(a.get(progress, deadline) - written) * 1000
                      for a in opened.arrived.values()]
        settle = time.time() + 0.3
        while time.time() < settle:
            opened.read(0.05)
    conn.close()
    cpu = cpu_seconds(http) - cpu
    threads = {kind: used - threads[kind] for kind, used in thread_cpu_seconds(http).items()}
    client_cpu = time.process_time() - client_cpu
    opened.close()
    latencies.sort()
    return {"streams": streams, "rss_mb": round(rss, 1),
            "p50_ms": round(statistics.median(latencies), 1),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1),
            "max_ms": round(latencies[-1], 1),
            # The server's CPU time per change (the settling pauses included): what the
            # fan-out costs, whatever else the machine runs.
            "server_cpu_ms_per_change": round(cpu * 1000 / changes, 1),
            # Of which (per change, ms): the Python threads, and granian's I/O threads.
            "server_cpu_split_ms": {kind: round(used * 1000 / changes, 1)
                                    for kind, used in threads.items()},
            # This bench's own reading of the sockets, which shares the machine's cores.
            "client_cpu_ms_per_change": round(client_cpu * 1000 / changes, 1)}


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
            idle = rss_mb(http_process(server.process.pid))
            one = measure(server.port, task_id, db_path, 1, args.changes, 1,
                          server.process.pid)
            many = measure(server.port, task_id, db_path, args.streams, args.changes,
                           1 + args.changes, server.process.pid)
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(json.dumps({"load_average": " ".join(load), "idle_rss_mb": round(idle, 1),
                      "baseline_one_stream": one,
                      "many_streams": many,
                      "p99_ratio": round(many["p99_ms"] / max(one["p99_ms"], 0.1), 1)},
                     indent=2))


if __name__ == "__main__":
    main()
