"""Fetching input URLs: the timeout bounds the whole download (issue 19, item 6)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from genmill.engines import InputError
from genmill.worker.fetch import fetch_image


@contextlib.contextmanager
def serve_bytes(body: bytes, trickle_every: float = 0.0,
                sent: list[int] | None = None) -> Iterator[str]:
    """A loopback HTTP server answering `body` as image/png, all at once or one byte
    every `trickle_every` seconds (counting what it sent into `sent`)."""
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not trickle_every:
                self.wfile.write(body)
                return
            for byte in body:
                if stop.wait(trickle_every):
                    return
                try:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                except OSError:  # the client gave up
                    return
                if sent is not None:
                    sent[0] += 1

        def log_message(self, *_) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/image.png"
    finally:
        stop.set()
        httpd.shutdown()
        httpd.server_close()


def test_a_server_trickling_bytes_cannot_outlast_the_fetch_timeout():
    """One byte every 0.2 s for 60 bytes (12 s) against a 1 s timeout: each read comes in
    time, so only a deadline on the whole fetch stops it; it does, long before the body
    is through."""
    sent = [0]
    with serve_bytes(b"\x89PNG" + b"x" * 56, trickle_every=0.2, sent=sent) as url:
        started = time.monotonic()
        with pytest.raises(InputError, match="timed out after 1 s"):
            fetch_image(url, max_bytes=1 << 20, timeout=1.0, allow_private=True)
        took = time.monotonic() - started
    assert sent[0] < 30, sent  # the fetch gave up with the body far from complete
    print(f"\ntrickling server: fetch gave up after {took:.1f} s (timeout 1 s, body "
          f"{sent[0]}/60 bytes)")


def test_a_prompt_server_is_fetched_whole():
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, "PNG")
    with serve_bytes(buffer.getvalue()) as url:
        item = fetch_image(url, max_bytes=1 << 20, timeout=5, allow_private=True)
    assert item.data == buffer.getvalue() and item.content_type == "image/png"


@pytest.mark.parametrize("host", ["[64:ff9b::7f00:1]", "[2002:7f00:1::]", "[::7f00:1]"])
def test_fetching_from_an_address_embedding_loopback_is_refused(host):
    with pytest.raises(InputError, match="refused"):
        fetch_image(f"http://{host}:9/a.png", max_bytes=1 << 20, timeout=2)
