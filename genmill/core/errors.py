"""Errors the service raises; each dialect renders them in its own shape."""

from __future__ import annotations


class ServiceError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidRequest(ServiceError):
    status = 400
    code = "invalid_request"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class TooManyTasks(ServiceError):
    """Over a per-key limit; the client should retry after `retry_after` seconds."""

    status = 429
    code = "rate_limited"
    retry_after = 5



class Conflict(ServiceError):
    status = 409
    code = "conflict"


class Unavailable(ServiceError):
    """A dependency (the object store) did not answer; nothing was stored."""

    status = 503
    code = "service_unavailable"  # as every 503 (api/errors.py)
    retry_after = 5
