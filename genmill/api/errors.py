"""Error bodies in each dialect's shape, and the handlers that produce them.

Siray clients read either `{"error": {...}}` (the official SDKs) or the gateway's
`{"code", "message", "data": null}`, so a Siray error carries both. The local task API
answers `{"status": <http status>, "message": ...}`.
"""

from __future__ import annotations

import errno
import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.routing import Match

from genmill.core.errors import ServiceError
from genmill.store.errors import StoreFull, StoreUnavailable

log = logging.getLogger("genmill.api")

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    410: "not_found_error",
    412: "invalid_request_error",
    413: "request_too_large",
    415: "invalid_request_error",
    416: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
    507: "insufficient_storage",
}
_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "output_expired",
    412: "precondition_failed",
    413: "request_too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    429: "rate_limited",
    503: "service_unavailable",
    507: "insufficient_storage",
}
RETRY_AFTER_OUTAGE = 5  # seconds: a database restart or a lost connection
RETRY_AFTER_FULL = 60  # seconds: someone has to free disk space
NO_SPACE = ("no space left on device: the server's disk is full; delete old tasks "
            "(DELETE /api/v1/tasks/{task_id}) or free space, then retry")
LOCAL_PREFIX = "/api/v1"


def error_body(path: str, status: int, message: str, code: str | None = None) -> dict:
    code = code or _CODES.get(status, "internal_error" if status >= 500 else "error")
    if path.startswith(LOCAL_PREFIX):
        return {"status": status, "message": message, "data": None}
    return {
        "code": code,
        "message": message,
        "data": None,
        "error": {"message": message, "type": _TYPES.get(status, "server_error"), "code": code},
    }


def error_response(
    request_path: str,
    status: int,
    message: str,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(request_path, status, message, code), status, headers=headers)


async def send_error(send, path: str, status: int, message: str,
                     headers: dict[str, str] | None = None) -> None:
    """An error answered by plain ASGI code (middleware), in the path's dialect."""
    body = json.dumps(error_body(path, status, message)).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class ApiError(Exception):
    """Raised by route code for an HTTP-level refusal (auth, bad query, limits)."""

    def __init__(self, status: int, message: str, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers


class BodyTooLarge(Exception):
    """The request body grew past the configured cap while it was being read."""


def install_error_handlers(app: FastAPI, max_body_bytes: int) -> None:
    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return error_response(request.url.path, 413,
                              f"body: larger than the {max_body_bytes}-byte limit",
                              headers={"Connection": "close"})

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request.url.path, exc.status, exc.message, exc.code, exc.headers)

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        return error_response(request.url.path, exc.status, exc.message, exc.code, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(loc) or "body"
        message = f"{field}: {first.get('msg', 'invalid')}".replace("Value error, ", "")
        return error_response(request.url.path, 400, message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "error"
        headers = getattr(exc, "headers", None)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}"
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": _allowed_methods(request)}
        return error_response(request.url.path, exc.status_code, message, headers=headers)

    @app.exception_handler(StoreUnavailable)
    async def _store_unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
        if isinstance(exc, StoreFull):
            return _no_space(request)
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        return error_response(request.url.path, 503,
                              "the database is unavailable right now; retry shortly",
                              headers={"Retry-After": str(RETRY_AFTER_OUTAGE)})

    @app.exception_handler(OSError)
    async def _os_error(request: Request, exc: OSError) -> JSONResponse:
        if exc.errno == errno.ENOSPC:  # an input file could not be saved
            return _no_space(request)
        raise exc  # a bug: the 500 handler below logs it

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request.url.path, 500, "internal server error")


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path. Starlette's 405 names only the first
    matching route's methods, and a path served by two routes (GET and DELETE of a task)
    would then hide one of them."""
    scope = {**request.scope, "method": "\0"}  # no route serves it: a path match is PARTIAL
    methods: set[str] = set()
    for route in _leaf_routes(request.app.router.routes):
        if route.matches(scope)[0] is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


def _leaf_routes(routes):
    """The routes themselves, inside the routers FastAPI wraps included routers in."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _leaf_routes(inner.routes)
        else:
            yield route


def _no_space(request: Request) -> JSONResponse:
    log.warning("%s %s: no space left on device", request.method, request.url.path)
    return error_response(request.url.path, 507, NO_SPACE,
                          headers={"Retry-After": str(RETRY_AFTER_FULL)})
