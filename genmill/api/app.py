"""The ASGI application: plain ASGI, so any server can run it (`genmill serve` picks)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from genmill import __version__
from genmill.api import dashboard, files, health, local, local_videos, siray
from genmill.api.auth import Authenticate
from genmill.api.errors import install_error_handlers
from genmill.api.middleware import AccessLog, BodyLimit
from genmill.components import Components
from genmill.config import Settings
from genmill.logs import setup_logging

DESCRIPTION = """Self-hosted asynchronous media generation.

Submit a task, get a `task_id` at once, poll it until `SUCCESS` or `FAILURE`, then fetch
the output URLs. Two dialects: the Siray API (`/v1`) and the local task API (`/api/v1`).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    parts = Components(settings or Settings())
    settings = parts.settings
    parts.database.migrate()
    app = FastAPI(title="genmill", version=__version__, description=DESCRIPTION)
    app.state.components = parts
    install_error_handlers(app, settings.max_body_bytes)
    siray_router, status_routes = siray.build_routes(parts.registry, parts)
    app.include_router(siray_router)
    app.include_router(local.router)
    app.include_router(local_videos.router)
    app.include_router(files.router)
    app.include_router(health.router)
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
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    # Outermost last: log every request, refuse unauthenticated ones before reading a
    # body, then cap the body.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(Authenticate, keys=parts.keys)
    app.add_middleware(AccessLog)
    return app


def app_from_env() -> FastAPI:
    """Factory for ASGI servers started by `genmill serve` (settings come from GENMILL_*)."""
    settings = Settings()
    setup_logging(settings.log_json)
    return create_app(settings)
