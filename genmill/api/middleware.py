"""Plain ASGI middleware: request logging and the request body cap."""

from __future__ import annotations

import logging
import time

from genmill.api.errors import BodyTooLarge, send_error

log = logging.getLogger("genmill.http")

# The scope key under which AccessLog leaves the send it was given: an event stream sends
# its body chunks there, past the send wrappers below it (here and in Starlette), which
# look only at the response start. The fan-out to thousands of streams is their hot path.
BODY_SEND = "genmill.body_send"


class AccessLog:
    """One line per request: method, path, status, milliseconds."""

    def __init__(self, app, observe=None) -> None:
        self.app = app
        self.observe = observe  # (scope, status, seconds): the request metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [0]
        scope[BODY_SEND] = send

        async def send_wrapper(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            seconds = time.perf_counter() - started
            if self.observe is not None:
                self.observe(scope, status[0], seconds)
            elapsed = seconds * 1000
            client = scope.get("client")
            log.info(
                "%s %s %d %.1fms", scope["method"], scope["path"], status[0], elapsed,
                extra={"method": scope["method"], "path": scope["path"], "status": status[0],
                       "duration_ms": round(elapsed, 2),
                       "client": client[0] if client else None,
                       # The router leaves the matched route's params in the scope.
                       "task_id": scope.get("path_params", {}).get("task_id")},
            )


class BodyLimit:
    """413 for a body over the cap, whether declared by Content-Length or streamed."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        received = 0
        started = [False]

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message) -> None:
            if message["type"] == "http.response.start":
                started[0] = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started[0]:
                await self._refuse(scope, send)

    async def _refuse(self, scope, send) -> None:
        await send_error(send, scope["path"], 413,
                         f"body: larger than the {self.max_bytes}-byte limit",
                         headers={"Connection": "close"})
