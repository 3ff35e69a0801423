"""bench/poll.py's bare route served by another revision of genmill and by this tree, side
by side with the minimal granian + Starlette app: what a change did to the bare route's
ratio, measured in one run so that the machine's load hits every side alike.

The other revision is exported with `git archive` into a scratch directory (this tree's
bench/ is copied over it, so both sides run the same bench code). Three servers, one
granian HTTP process each, alternating 4 s wrk runs (64 connections); reported are the
medians of req/s and of the server's CPU time per request, each against the minimal app's.

    python bench/poll_revisions.py [--before HEAD] [--seconds 4] [--rounds 5]
Needs wrk (apt-get install wrk) and git.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import REPO, Server, median_of  # noqa: E402
from bench.poll import bare_route_setup, measure_rounds  # noqa: E402


def export(revision: str, into: Path) -> Path:
    into.mkdir()
    archive = subprocess.run(["git", "archive", revision], cwd=REPO, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    shutil.rmtree(into / "bench")
    shutil.copytree(REPO / "bench", into / "bench")
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="HEAD", help="the revision to compare with")
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        before = export(args.before, tmp / "before")
        env, headers, script = bare_route_setup(tmp)
        servers = {"minimal app": Server("bench.poll:minimal_app", env),
                   f"bare route, {args.before}": Server("bench.poll:make_app", env,
                                                        repo=before),
                   "bare route, this tree": Server("bench.poll:make_app", env)}
        started = []
        try:
            for server in servers.values():
                started.append(server.__enter__())
            runs = measure_rounds(servers, args.rounds, args.seconds, headers, script)
        finally:
            for server in started:
                server.__exit__()
    base, base_cpu = median_of(runs["minimal app"], "rps"), median_of(runs["minimal app"],
                                                                         "cpu_us")
    for label, done in runs.items():
        assert all(r["non2xx"] == 0 for r in done), f"{label}: non-2xx responses"
        rps, cpu = median_of(done, "rps"), median_of(done, "cpu_us")
        print(f"{label:>22}: {rps:8.0f} req/s  / minimal app {rps / base:4.2f}   "
              f"CPU {cpu:5.1f} µs/request  minimal app / this {base_cpu / cpu:4.2f}  "
              f"(req/s of each run: {', '.join(str(round(r['rps'])) for r in done)})")


if __name__ == "__main__":
    main()
