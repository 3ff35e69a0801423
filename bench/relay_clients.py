"""CPU per upstream request: the relay runner's HTTP client against httpx.

The upstream is a real `genmill serve` (tests.engines' models); one finished task's status
route (`GET /v1/images/generations/async/{id}`, the relay's poll) is requested `--requests`
times by `--concurrency` coroutines, once through httpx.AsyncClient configured as the relay
runner had it (the baseline: 32 connections, follow redirects) and once through
`genmill.engines.relays.http.UpstreamHTTP` (aiohttp), alternating `--rounds` times in
one process. Printed: this process's CPU (time.process_time) per request for each, and
their ratio. The server's CPU is not counted.

    python bench/relay_clients.py [--requests 3000] [--concurrency 16] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Server  # noqa: E402
from genmill.engines.relays.http import UpstreamHTTP  # noqa: E402

KEY = "bench-upstream-key-0123"
HEADERS = {"Authorization": f"Bearer {KEY}"}


async def measure(one: Callable[[], Awaitable[None]], requests: int,
                  concurrency: int) -> tuple[float, float]:
    """(CPU seconds per request, requests per second) for `requests` calls of `one`."""
    for _ in range(20):  # connections open, code paths warm
        await one()
    left = requests

    async def loop() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await one()

    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return (time.process_time() - cpu) / requests, requests / (time.monotonic() - wall)


async def with_httpx(url: str, requests: int, concurrency: int) -> tuple[float, float]:
    async with httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, connect=10.0), follow_redirects=True,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32)) as http:
        async def one() -> None:
            response = await http.request("GET", url, headers=HEADERS)
            assert response.status_code == 200, response.status_code
            response.json()

        return await measure(one, requests, concurrency)


async def with_upstream_http(url: str, requests: int, concurrency: int) -> tuple[float, float]:
    http = UpstreamHTTP()
    try:
        async def one() -> None:
            reply = await http.request("GET", url, HEADERS)
            assert reply.status == 200, reply.status
            reply.json()

        return await measure(one, requests, concurrency)
    finally:
        await http.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="genmill-bench-clients-"))
    env = {"GENMILL_DATA_DIR": str(base), "GENMILL_PLUGINS": "tests.engines",
           "GENMILL_API_KEYS": f"bench:{KEY}"}
    with Server("genmill", env, workers=1) as upstream:
        submitted = httpx.post(upstream.url + "/v1/images/generations/async", headers=HEADERS,
                               json={"model": "test/steps-t2i", "prompt": "bench", "steps": 1,
                                     "step_ms": 1})
        submitted.raise_for_status()
        url = f"{upstream.url}/v1/images/generations/async/{submitted.json()['task_id']}"
        results: dict[str, list[tuple[float, float]]] = {"httpx": [], "aiohttp": []}
        for _ in range(args.rounds):
            results["httpx"].append(asyncio.run(
                with_httpx(url, args.requests, args.concurrency)))
            results["aiohttp"].append(asyncio.run(
                with_upstream_http(url, args.requests, args.concurrency)))
    sniffio = importlib.util.find_spec("sniffio") is not None
    print(f"{args.requests} status GETs x {args.rounds} rounds, {args.concurrency} at a time, "
          f"load {os.getloadavg()[0]:.2f}; sniffio installed: {sniffio}")
    for name, label in (("httpx", "httpx.AsyncClient (baseline)"),
                        ("aiohttp", "UpstreamHTTP (aiohttp)")):
        for cpu, rate in results[name]:
            print(f"  {label:30} {cpu * 1000:6.3f} ms CPU/request  {rate:7.0f} requests/s")
    baseline = min(cpu for cpu, _ in results["httpx"])
    ours = min(cpu for cpu, _ in results["aiohttp"])
    print(f"CPU per request, UpstreamHTTP / httpx (best rounds): {ours / baseline:.3f}")


if __name__ == "__main__":
    main()
