"""Plain ASGI middleware: request logging, the request body cap, the fast lane of plain routes."""

from __future__ import annotations

import asyncio
import atexit
import time

from starlette.routing import Match

from genmill.api.errors import BodyTooLarge, send_error
from genmill.logs import AccessEntry, write_access

# The scope key under which AccessLog leaves the send it was given: an event stream sends
# its body chunks there, past the send wrappers below it (here and in Starlette), which
# look only at the response start. The fan-out to thousands of streams is their hot path.
BODY_SEND = "genmill.body_send"


class AccessLog:
    """One line per request: method, path, status, milliseconds (and, in JSON, the
    client and the task id).

    Lines are gathered on the event loop and written FLUSH_SECONDS later, many in one
    write: a log record per request (LogRecord, caller lookup, formatter, a write and a
    flush) cost as much as the rest of a status poll (bench/poll.py)."""

    FLUSH_SECONDS = 0.1
    MAX_PENDING = 1024

    def __init__(self, app, observe=None) -> None:
        self.app = app
        self.observe = observe  # (scope, status, seconds): the request metrics
        self._pending: list[AccessEntry] = []
        self._timer: asyncio.TimerHandle | None = None
        atexit.register(self.flush)  # what is left when the process ends

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        entries, self._pending = self._pending, []
        write_access(entries)

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
            client = scope.get("client")
            self._pending.append((
                time.time(), scope["method"], scope["path"], status[0], seconds * 1000,
                client[0] if client else None,
                # The router leaves the matched route's params in the scope.
                scope.get("path_params", {}).get("task_id"),
            ))
            if len(self._pending) >= self.MAX_PENDING:
                self.flush()
            elif self._timer is None:
                self._timer = asyncio.get_running_loop().call_later(self.FLUSH_SECONDS,
                                                                   self.flush)


class BodyLimit:
    """413 for a body over the cap, whether declared by Content-Length or streamed."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = chunked = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                chunked = value
        if declared is None and chunked is None:  # HTTP/1.1: a request with no body
            await self.app(scope, receive, send)
            return
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


class PlainRoutesFirst:
    """GETs for the plain Starlette routes at the front of the router (the status polls,
    mounted first by the app) go straight to their route, past FastAPI's own layers
    (server-error, telemetry, body-limit, exception and exit-stack middleware, then a
    router loop), which together cost as much as the poll itself (bench/poll.py).
    Everything else goes through FastAPI. An error in such a route meets the same
    exception handlers as anywhere else."""

    def __init__(self, app, fastapi_app) -> None:
        self.app = app
        self.fastapi = fastapi_app
        self._seen = -1  # len(router.routes) when the lane was last computed
        self._lane: list = []
        self._handlers: tuple[dict, dict] = ({}, {})

    def _refresh(self) -> None:
        from fastapi.routing import APIRoute
        from starlette.routing import Route

        routes = self.fastapi.router.routes
        self._seen = len(routes)
        self._lane = []
        for route in routes:
            if not isinstance(route, Route) or isinstance(route, APIRoute):
                break
            self._lane.append(route)
        # As Starlette's ExceptionMiddleware holds them, which the route's own wrapper
        # reads; unlike there, the catch-all (500) is among them: it answers in the
        # dialect's shape, as ServerErrorMiddleware would.
        by_class, by_status = {}, {}
        for key, handler in self.fastapi.exception_handlers.items():
            if key == 500:
                key = Exception
            (by_status if isinstance(key, int) else by_class)[key] = handler
        self._handlers = (by_class, by_status)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            if self._seen != len(self.fastapi.router.routes):
                self._refresh()
            for route in self._lane:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child_scope)
                    scope["app"] = self.fastapi
                    scope["router"] = self.fastapi.router
                    scope["starlette.exception_handlers"] = self._handlers
                    await route.handle(scope, receive, send)
                    return
        await self.app(scope, receive, send)
