"""The ASGI application: plain ASGI, so any server can run it (`genmill serve` picks)."""

from __future__ import annotations

import gc
import inspect
import time

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from genmill import __version__
from genmill.api import (
    dashboard,
    docs,
    files,
    health,
    local,
    local_videos,
    metrics,
    siray,
    siray_events,
)
from genmill.api.auth import Authenticate
from genmill.api.errors import install_error_handlers
from genmill.api.event_hub import EventHubs
from genmill.api.middleware import AccessLog, BodyLimit, PlainRoutesFirst
from genmill.api.openapi import document_errors
from genmill.components import Components
from genmill.config import Settings
from genmill.lifetime import follow_server_process
from genmill.logs import setup_logging
from genmill.store.errors import StoreUnavailable

DESCRIPTION = """Self-hosted asynchronous media generation.

Submit a task, get a `task_id` at once, poll it until `SUCCESS` or `FAILURE`, then fetch
the output URLs. Two dialects: the Siray API (`/v1`) and the local task API (`/api/v1`).
"""


# FastAPI >= 0.16x asks OpenTelemetry on every request whether a provider is configured
# (a tenth of a bare request's cost, bench/poll.py); genmill exports /metrics instead.
_NO_TELEMETRY = ({"telemetry": {"tracing": False, "metrics": False, "logs": False}}
                 if "telemetry" in inspect.signature(FastAPI).parameters else {})


def create_app(settings: Settings | None = None) -> FastAPI:
    parts = Components(settings or Settings())
    settings = parts.settings
    _migrate(parts)
    # FastAPI's own doc pages load from a CDN; api/docs.py serves Swagger UI offline.
    app = GenmillApp(title="genmill", version=__version__, description=DESCRIPTION,
                  docs_url=None, redoc_url=None, **_NO_TELEMETRY)
    app.state.components = parts
    app.state.event_hubs = EventHubs(parts.events, settings.events_poll_interval,
                                     settings.events_keepalive,
                                     settings.events_check_interval)
    install_error_handlers(app, settings.max_body_bytes)
    siray_router, status_routes = siray.build_routes(parts.registry, parts)
    app.include_router(siray_router)
    app.include_router(siray_events.build_router(parts, app.state.event_hubs))
    app.include_router(local.router)
    app.include_router(local_videos.router)
    app.include_router(files.router)
    app.include_router(health.router)
    app.include_router(docs.router)
    app.include_router(metrics.router)
    app.state.metrics = metrics.Metrics(parts.database)
    app.include_router(dashboard.router)
    # Status polls first: the hottest path matches on the first regex, not the tenth.
    app.router.routes[0:0] = status_routes

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            }
            schema["security"] = [{"bearer": []}, {"apiKey": []}]
            for route in app.routes:
                if isinstance(route, siray.StatusRoute):
                    schema["paths"][route.path] = route.openapi_operation
            app.openapi_schema = document_errors(schema)
        return app.openapi_schema

    app.openapi = openapi
    # Outermost first: log every request, refuse unauthenticated ones before reading a
    # body, cap the body; then the plain routes' fast lane, else FastAPI.
    def layers(inner) -> AccessLog:
        log = AccessLog(
            Authenticate(
                BodyLimit(PlainRoutesFirst(inner, app), max_bytes=settings.max_body_bytes),
                keys=parts.keys,
                also_public=frozenset({"/metrics"}) if settings.metrics_public else None),
            observe=app.state.metrics.observe)
        app.state.metrics.catch_up = log.flush  # a scrape counts every request answered
        return log

    app.genmill_layers = layers
    tune_gc()
    return app


class GenmillApp(FastAPI):
    """FastAPI inside genmill's own ASGI layers (`genmill_layers`, set by create_app):
    they run outside FastAPI's middleware stack, so that the plain routes' fast lane
    (`PlainRoutesFirst`) can skip that stack."""

    genmill_layers = None
    _outer = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or self.genmill_layers is None:
            await super().__call__(scope, receive, send)  # lifespan
            return
        if self._outer is None:
            self._outer = self.genmill_layers(super().__call__)
        await self._outer(scope, receive, send)


def tune_gc() -> None:
    """The HTTP process's garbage collector, tuned for thousands of open event streams.
    A change fans out to every stream that follows it, and each allocates a few small
    objects that live until the next change; with CPython's default first threshold
    (700) the collector ran every few dozen streams, promoting those objects and then
    walking the whole heap: 40 % of the fan-out's CPU (bench/events.py, py-spy). Objects
    from startup (modules, the app) go to the permanent generation, never walked again."""
    gc.freeze()
    gc.set_threshold(50_000, 10, 10)


MIGRATE_PATIENCE = 60.0  # seconds a starting app waits for a busy or restarting database


def _migrate(parts: Components) -> None:
    """Bring the schema up to date, waiting out a database that is busy (SQLite writers
    under heavy load) or restarting, rather than failing the server's start."""
    deadline = time.monotonic() + MIGRATE_PATIENCE
    delay = 0.1
    while True:
        try:
            parts.database.migrate()
            return
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(2.0, delay * 2)


def app_from_env() -> FastAPI:
    """Factory for ASGI servers started by `genmill serve` (settings come from GENMILL_*)."""
    settings = Settings()
    follow_server_process(settings.shutdown_seconds)
    setup_logging(settings.log_json)
    return create_app(settings)
