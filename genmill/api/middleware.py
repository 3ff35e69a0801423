"""Plain ASGI middleware: request logging, the request body cap, the fast lane of plain routes."""

from __future__ import annotations

import asyncio
import atexit
import functools
import inspect
from time import perf_counter

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Match

from genmill.api.errors import BodyTooLarge, send_error
from genmill.logs import AccessEntry, write_access

# The scope key under which AccessLog leaves the send it was given: an event stream sends
# its body chunks there, past the send wrappers below it (here and in Starlette), which
# look only at the response start. The fan-out to thousands of streams is their hot path.
BODY_SEND = "genmill.body_send"


class AccessLog:
    """One line per request: method, path, status, milliseconds (and, in JSON, the
    client and the task id), and the request metrics (`observe`).

    A request leaves one tuple of raw values (logs.AccessEntry); FLUSH_SECONDS later the
    batch is written, many lines in one write, and handed to `observe` at once: a log
    record per request (LogRecord, caller lookup, formatter, a write and a flush) cost as
    much as the rest of a status poll, and even formatting a line or counting a request
    as it ends cost a tenth of a bare request (bench/poll.py, bench/poll_layers.py).
    Whoever reads the metrics calls `flush` first, so they miss no finished request."""

    FLUSH_SECONDS = 0.1
    MAX_PENDING = 1024

    def __init__(self, app, observe=None) -> None:
        self.app = app
        self.observe = observe  # (entries): the request metrics, a batch at a time
        self._pending: list[AccessEntry] = []
        self._timer: asyncio.TimerHandle | None = None
        atexit.register(self.flush)  # what is left when the process ends

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        entries, self._pending = self._pending, []
        try:
            if entries and self.observe is not None:
                self.observe(entries)
        finally:
            write_access(entries)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[BODY_SEND] = send
        status = 0

        def send_status(message):
            # A plain function handing back send's awaitable: no coroutine per message.
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            return send(message)

        started = perf_counter()
        try:
            await self.app(scope, receive, send_status)
        finally:
            ended = perf_counter()
            pending = self._pending
            # The router leaves the matched route and its params in the scope.
            pending.append((ended, ended - started, scope["method"], scope["path"], status,
                            scope.get("client"), scope.get("path_params"),
                            scope.get("route")))
            if len(pending) >= self.MAX_PENDING:
                self.flush()
            elif self._timer is None:
                self._timer = asyncio.get_running_loop().call_later(self.FLUSH_SECONDS,
                                                                   self.flush)


class BodyLimit:
    """413 for a body over the cap, whether declared by Content-Length or streamed.

    Like the other pass-through layers here, it hands back the next layer's awaitable
    rather than awaiting it: a request that needs nothing of it costs no coroutine."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        declared = chunked = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                chunked = value
        if declared is None and chunked is None:  # HTTP/1.1: a request with no body
            return self.app(scope, receive, send)
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return self._refuse(scope, send)
        return self._counted(scope, receive, send)

    async def _counted(self, scope, receive, send) -> None:
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
        self._lane: list = []  # (route, what to call once it matches)
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
            self._lane.append((route, self._target(route)))
        # As Starlette's ExceptionMiddleware holds them, which the route's own wrapper
        # reads; unlike there, the catch-all (500) is among them: it answers in the
        # dialect's shape, as ServerErrorMiddleware would.
        by_class, by_status = {}, {}
        for key, handler in self.fastapi.exception_handlers.items():
            if key == 500:
                key = Exception
            (by_status if isinstance(key, int) else by_class)[key] = handler
        self._handlers = (by_class, by_status)

    def _target(self, route):
        """What to call once `route` fully matches (its method is then allowed, all that
        Route.handle checks). An async function endpoint, wrapped by Starlette in
        request_response and nothing else, is called by `_respond`: the same request,
        exception handlers and response, without request_response's three coroutines and
        two send wrappers a request. Anything else: the route's app, or its own handle."""
        from starlette.routing import Route

        if type(route).handle is not Route.handle:
            return route.handle
        app = route.app
        if (getattr(app, "__module__", None) == "starlette.routing"
                and getattr(app, "__qualname__", None) == "request_response.<locals>.app"
                and inspect.iscoroutinefunction(route.endpoint)):
            return functools.partial(self._respond, route.endpoint)
        return app

    async def _respond(self, endpoint, scope, receive, send) -> None:
        """request_response's work for an async endpoint. As there, an exception from the
        endpoint meets the exception handlers; one raised while the response is sent
        propagates (there only one raised before the response started is handled, and a
        plain route's response sends what it has in memory)."""
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request)
        except Exception as exc:
            by_class, by_status = self._handlers
            handler = None
            if isinstance(exc, HTTPException):
                handler = by_status.get(exc.status_code)
            if handler is None:
                handler = next((by_class[cls] for cls in type(exc).__mro__
                                if cls in by_class), None)
            if handler is None:
                raise
            if inspect.iscoroutinefunction(handler):
                response = await handler(request, exc)
            else:
                response = await run_in_threadpool(handler, request, exc)
            exc.__traceback__ = None  # as Starlette: a reused exception gathers frames
            if response is None:
                return
        await response(scope, receive, send)

    def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "GET":
            if self._seen != len(self.fastapi.router.routes):
                self._refresh()
            for route, target in self._lane:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child_scope)
                    scope["app"] = self.fastapi
                    scope["router"] = self.fastapi.router
                    scope["starlette.exception_handlers"] = self._handlers
                    return target(scope, receive, send)
        return self.app(scope, receive, send)
