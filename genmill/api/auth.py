"""Authentication as one ASGI layer: every request needs a key unless its path is public.

A key comes as `Authorization: Bearer <key>` or `X-API-Key: <key>`; its name owns the
tasks it submits. Routes do not authenticate themselves, so a route added later is private
unless its path is added to the public list below (a test walks every route to hold this).
"""

from __future__ import annotations

import re

from starlette.requests import Request

from genmill.api.errors import send_error
from genmill.core.keys import ANONYMOUS, KeyRing

OWNER = "genmill.owner"  # the ASGI scope key where the caller's name is left for routes

# Probes, the API's documents (the page and its bundled assets), the dashboard's page and
# static files (it sends the user's key on every API call it makes), and output files (the
# 128-bit task id in the URL is the capability, as on the hosted service).
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs",
                          "/docs/oauth2-redirect", "/"})
PUBLIC_PATTERN = re.compile(r"/tasks/[^/]+/[^/]+|/docs/assets/[^/]+|/dashboard/.+")


def is_public(path: str, also_public: frozenset[str] = frozenset()) -> bool:
    return (path in PUBLIC_PATHS or path in also_public
            or PUBLIC_PATTERN.fullmatch(path) is not None)


def presented_key(headers: list[tuple[bytes, bytes]]) -> str:
    """X-API-Key, else a Bearer token; "" if neither. Read from the raw ASGI headers in one
    pass (names arrive lower-cased): it runs on every request."""
    bearer = ""
    for name, value in headers:
        if name == b"x-api-key":
            if value:
                return value.decode("latin-1")
        elif name == b"authorization" and not bearer:
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                bearer = token.strip()
    return bearer


class Authenticate:
    """Leaves the caller's name in the scope for the routes, or answers 401 itself."""

    def __init__(self, app, keys: KeyRing, also_public: frozenset[str] | None = None) -> None:
        self.app = app
        self.keys = keys
        # Paths a deployment chose to open (GENMILL_METRICS_PUBLIC=1 adds /metrics).
        self.also_public = also_public or frozenset()

    def __call__(self, scope, receive, send):
        # Hands back the next layer's awaitable (or the 401's): no coroutine of its own.
        if scope["type"] != "http" or self.keys.open:
            scope[OWNER] = ANONYMOUS
            return self.app(scope, receive, send)
        key = presented_key(scope["headers"])
        name = self.keys.owner_of(key) if key else None
        if name is not None:
            scope[OWNER] = name
        elif not is_public(scope["path"], self.also_public):
            message = "invalid API key" if key else \
                "missing API key: send Authorization: Bearer <key>"
            return send_error(send, scope["path"], 401, message,
                              headers={"WWW-Authenticate": "Bearer"})
        return self.app(scope, receive, send)


def owner(request: Request) -> str:
    """The caller's name, as the authentication layer found it."""
    return request.scope[OWNER]
