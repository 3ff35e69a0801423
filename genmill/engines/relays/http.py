"""The relay runner's one HTTP client for every upstream, over aiohttp.

aiohttp, not httpx: the same status GETs to a genmill upstream cost 0.19 ms of CPU each
through aiohttp against 4.2 ms through httpx (2.9 ms with sniffio installed), measured in
one run by bench/relay_clients.py. Each httpx request walked httpcore's pool, shielded
its cancellation through anyio and, with sniffio absent, searched the import path for it
twice; at a few hundred polls a second that was most of the relay runner's CPU.

The relays see only this module: `request` answers a `Reply` (the body read whole),
`stream` a response to copy in chunks, `messages` the JSON messages of a websocket, and
every transport failure or timeout is an `UpstreamUnavailable`, which the relay runner
retries.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from genmill.engines.relays.errors import UpstreamUnavailable

CONNECTIONS = 32  # to all upstreams together: enough for hundreds of polls a second
# A JSON answer: whole within 30 s (one timer a request), the connect within 10 s.
ANSWER_TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=10)
# An output may take long to copy, as long as bytes keep coming: a pool slot plus the
# connect within 30 s, no 30 s without a byte (a timer moved at each chunk).
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=30, sock_connect=10,
                                         sock_read=30)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]  # case-insensitive
    body: bytes

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return json.loads(self.body)


@dataclass
class Form:
    """A multipart/form-data body: plain fields and one file per name."""

    fields: dict[str, str]
    files: dict[str, tuple[str, bytes, str]]  # name -> (file name, bytes, content type)

    def encode(self) -> aiohttp.FormData:
        form = aiohttp.FormData()
        for name, value in self.fields.items():
            form.add_field(name, value)
        for name, (filename, data, content_type) in self.files.items():
            form.add_field(name, data, filename=filename, content_type=content_type)
        return form


def unavailable(exc: BaseException) -> UpstreamUnavailable:
    if isinstance(exc, TimeoutError):
        return UpstreamUnavailable("no answer in time")
    return UpstreamUnavailable(f"unreachable ({type(exc).__name__})")


class UpstreamHTTP:
    """One connection pool for the process; open it inside the running event loop."""

    def __init__(self, connections: int = CONNECTIONS) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections),
            # Each kind of call passes its own; a websocket stays open as long as it may.
            timeout=aiohttp.ClientTimeout(total=None, connect=30, sock_connect=10),
            # An upstream's cookies must not ride along with another task's requests.
            cookie_jar=aiohttp.DummyCookieJar(),
            raise_for_status=False)

    async def request(self, method: str, url: str, headers: Mapping[str, str],
                      json: Any = None, form: Form | None = None) -> Reply:
        data = form.encode() if form is not None else None
        try:
            async with self.session.request(method, url, headers=headers, json=json,
                                            data=data, timeout=ANSWER_TIMEOUT) as response:
                return Reply(response.status, response.headers, await response.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise unavailable(exc) from None

    @contextlib.asynccontextmanager
    async def stream(self, url: str, headers: Mapping[str, str]
                     ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A GET whose body is read in chunks (`response.content.iter_chunked`)."""
        try:
            async with self.session.get(url, headers=headers,
                                        timeout=DOWNLOAD_TIMEOUT) as response:
                yield response
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise unavailable(exc) from None

    async def messages(self, url: str, headers: Mapping[str, str]) -> AsyncIterator[Any]:
        """The JSON text messages of the websocket at `url` (ws:// or wss://) until it
        closes; others (ComfyUI's binary previews) are skipped."""
        try:
            async with self.session.ws_connect(url, headers=headers, heartbeat=30,
                                               timeout=aiohttp.ClientWSTimeout(ws_close=5)
                                               ) as socket:
                async for message in socket:
                    if message.type == aiohttp.WSMsgType.TEXT:
                        try:
                            yield json.loads(message.data)
                        except ValueError:
                            continue
                    elif message.type == aiohttp.WSMsgType.ERROR:
                        break
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise unavailable(exc) from None

    async def close(self) -> None:
        await self.session.close()
