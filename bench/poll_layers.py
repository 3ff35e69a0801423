"""What each of genmill's outer layers costs a request: bench/poll.py's bare route served
by the whole app and by variants of it that leave one part out.

Baseline, measured in the same run and alternating with the others: the minimal granian +
Starlette app of bench/poll.py returning the same bytes. Each variant runs in its own
granian process (one HTTP process, 64 connections from wrk); reported is each median's
ratio to the minimal app's, and each one's CPU time per request (the server's processes'
user + system time over the requests answered: steadier than requests/s on a shared
machine) with the minimal app's divided by it. Variants:

  whole app          what bench/poll.py calls the bare route
  no access log      the access log layer left out (no lines, no HTTP metrics)
  no metrics         the access log layer without its HTTP metrics
  no lines           the access log layer without writing its lines
  layer only         the access log layer without metrics or lines

    python bench/poll_layers.py [--seconds 4] [--rounds 3] [--only VARIANT ...]
Needs wrk (apt-get install wrk).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Server, median_of  # noqa: E402
from bench.poll import bare_route_setup, make_app, measure_rounds  # noqa: E402


def _variant(no_log: bool = False, no_metrics: bool = False, no_lines: bool = False):
    if no_lines:
        import genmill.api.middleware as middleware

        middleware.write_access = lambda entries: None
    app = make_app()
    layers = app.genmill_layers

    def build(inner):
        outer = layers(inner)  # AccessLog(Authenticate(BodyLimit(PlainRoutesFirst(...))))
        if no_log:
            return outer.app
        if no_metrics:
            outer.observe = None
        return outer

    app.genmill_layers = build
    return app


def whole():
    return _variant()


def no_access_log():
    return _variant(no_log=True)


def no_metrics():
    return _variant(no_metrics=True)


def no_lines():
    return _variant(no_lines=True)


def layer_only():
    return _variant(no_metrics=True, no_lines=True)


VARIANTS = {"minimal app": "bench.poll:minimal_app", "whole app": "bench.poll_layers:whole",
            "no access log": "bench.poll_layers:no_access_log",
            "no metrics": "bench.poll_layers:no_metrics",
            "no lines": "bench.poll_layers:no_lines",
            "layer only": "bench.poll_layers:layer_only"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="*", choices=[v for v in VARIANTS if v != "minimal app"],
                        help="these variants only (and the minimal app)")
    args = parser.parse_args()
    variants = {label: factory for label, factory in VARIANTS.items()
                if not args.only or label == "minimal app" or label in args.only}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env, headers, script = bare_route_setup(tmp)
        servers = {}
        try:
            for label, factory in variants.items():
                servers[label] = Server(factory, env).__enter__()
            runs = measure_rounds(servers, args.rounds, args.seconds, headers, script)
        finally:
            for server in servers.values():
                server.__exit__()
    base = median_of(runs["minimal app"], "rps")
    base_cpu = median_of(runs["minimal app"], "cpu_us")
    for label, done in runs.items():
        assert all(r["non2xx"] == 0 for r in done), f"{label}: non-2xx responses"
        rps, cpu = median_of(done, "rps"), median_of(done, "cpu_us")
        print(f"{label:>14}: {rps:8.0f} req/s  / minimal app {rps / base:4.2f}   "
              f"CPU {cpu:5.1f} µs/request  minimal app / this {base_cpu / cpu:4.2f}")


if __name__ == "__main__":
    main()
