"""CPU per webhook POST: the deliverer's HTTP client (aiohttp) against httpx, its old one.

One signed-size JSON body POSTed `--posts` times to a local HTTP/1.1 receiver (the
stdlib's, in this process, answering 204), one at a time on a kept-alive connection,
once through httpx.AsyncClient configured as worker/webhooks.py had it (the baseline:
streamed POST, Host header, SNI extension) and once through aiohttp.ClientSession as it
has it now, alternating `--rounds` times. Printed: this process's CPU per POST for each
(the receiver's share is the same in both) and their ratio.

    python bench/webhook_clients.py [--posts 1500] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import os
import threading
import time

import aiohttp
import httpx

BODY = b'{"type":"task.completed","timestamp":"2026-11-28T00:00:00Z","data":{"task_id":' \
       b'"image_0123456789abcdef0123456789abcdef","status":"SUCCESS","progress":100}}'
HEADERS = {"Host": "localhost", "webhook-id": "msg_0123", "webhook-timestamp": "1",
           "webhook-signature": "v1,c2lnbmF0dXJl"}


class Receiver(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


async def measure(post, posts: int) -> float:
    for _ in range(20):  # connection open, code paths warm
        await post()
    cpu = time.process_time()
    for _ in range(posts):
        await post()
    return (time.process_time() - cpu) / posts


async def with_httpx(url: str, posts: int) -> float:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=32)
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False,
                                 limits=limits) as client:
        async def post() -> None:
            async with client.stream("POST", url, content=BODY, headers=HEADERS, timeout=10,
                                     extensions={"sni_hostname": "localhost"}) as response:
                async for _ in response.aiter_raw():
                    pass
                assert response.status_code == 204

        return await measure(post, posts)


async def with_aiohttp(url: str, posts: int) -> float:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     cookie_jar=aiohttp.DummyCookieJar()) as client:
        async def post() -> None:
            async with client.post(url, data=BODY, headers=HEADERS, allow_redirects=False,
                                   timeout=aiohttp.ClientTimeout(total=10)) as response:
                async for _ in response.content.iter_any():
                    pass
                assert response.status == 204

        return await measure(post, posts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    results: dict[str, list[float]] = {"httpx": [], "aiohttp": []}
    for _ in range(args.rounds):
        results["httpx"].append(asyncio.run(with_httpx(url, args.posts)))
        results["aiohttp"].append(asyncio.run(with_aiohttp(url, args.posts)))
    print(f"{args.posts} POSTs x {args.rounds} rounds, load {os.getloadavg()[0]:.2f}")
    for name in ("httpx", "aiohttp"):
        print(f"  {name:8} " + "  ".join(f"{cpu * 1000:.3f}" for cpu in results[name])
              + " ms CPU/POST")
    print(f"CPU per POST, aiohttp / httpx (best rounds): "
          f"{min(results['aiohttp']) / min(results['httpx']):.3f}")


if __name__ == "__main__":
    main()
