"""Streaming a 500 MB output: /api/v1/stream vs nginx (sendfile on), one curl client.

Both serve the same file from the same disk on this machine. Reported: median download
speed of each (3 runs), the ratio, and the same for a Range request (`bytes=0-`), which
genmill answers by reading chunks instead of handing the path to the server.

    python bench/stream.py [--mb 500] [--runs 3]
Needs nginx and curl (apt-get install nginx-light curl). Target: ratio >= 0.5.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Server, free_port, require, seed_tasks  # noqa: E402

NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
error_log {prefix}/error.log;
pid {prefix}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


def curl_speed(url: str, byte_range: str | None = None) -> float:
    """Bytes per second of one download to /dev/null."""
    command = ["curl", "-sS", "-f", "-o", "/dev/null", "-w", "%{speed_download}", url]
    if byte_range:
        command[1:1] = ["-r", byte_range]
    return float(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def median_speed(url: str, runs: int, byte_range: str | None = None) -> float:
    curl_speed(url, byte_range)  # warm the page cache and the connection path
    return statistics.median(curl_speed(url, byte_range) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    nginx = require("nginx", "nginx-light")
    require("curl", "curl")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        [task_id] = seed_tasks(f"sqlite:///{tmp_path}/genmill.db", 1)
        task_dir = tmp_path / "tasks" / task_id
        task_dir.mkdir(parents=True)
        big = task_dir / "video-1.mp4"
        with open(big, "wb") as out:
            for _ in range(args.mb):
                out.write(os.urandom(1 << 20))

        prefix = tmp_path / "nginx"
        (prefix / "tmp").mkdir(parents=True)
        port = free_port()
        (prefix / "nginx.conf").write_text(
            NGINX_CONF.format(prefix=prefix, port=port, root=task_dir))
        web = subprocess.Popen([nginx, "-c", str(prefix / "nginx.conf"), "-p", str(prefix)],
                               stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        try:
            nginx_speed = median_speed(f"http://127.0.0.1:{port}/video-1.mp4", args.runs)
            nginx_range = median_speed(f"http://127.0.0.1:{port}/video-1.mp4", args.runs, "0-")
        finally:
            web.terminate()
            web.wait()
        env = {"GENMILL_DATA_DIR": tmp, "GENMILL_API_KEYS": "", "GENMILL_LOG_JSON": "0"}
        with Server("genmill", env) as server:
            url = f"{server.url}/api/v1/stream/{task_id}/video-1.mp4"
            genmill_speed = median_speed(url, args.runs)
            genmill_range = median_speed(url, args.runs, "0-")
        shutil.rmtree(task_dir)

    gb = 1e9
    for name, whole, ranged in (("nginx (sendfile)", nginx_speed, nginx_range),
                                ("genmill /api/v1/stream", genmill_speed, genmill_range)):
        print(f"{name:<24}: {whole / gb:5.2f} GB/s   range: {ranged / gb:5.2f} GB/s")
    print(f"ratio genmill/nginx     : {genmill_speed / nginx_speed:5.2f} (target >= 0.5)   "
          f"range: {genmill_range / nginx_range:5.2f}")
    print(f"file: {args.mb} MB, one curl client, median of {args.runs}")


if __name__ == "__main__":
    main()
