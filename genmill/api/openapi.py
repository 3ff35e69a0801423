"""The OpenAPI document, with every error answer each route can give.

FastAPI documents the 200 (and a 422 genmill never sends: validation errors are 400s).
Clients and schema-driven testers (schemathesis) need the rest: 401 on private routes,
400 for bad input, 404 for a task id, 413/415/429 on submits, 503 while the database
is down and 507 when the disk is full, each in its dialect's error shape.
"""

from __future__ import annotations

from typing import Any

from genmill.api.auth import is_public
from genmill.api.errors import LOCAL_PREFIX

_SIRAY_ERROR = {
    "type": "object",
    "required": ["code", "message", "data", "error"],
    "properties": {
        "code": {"type": "string"},
        "message": {"type": "string"},
        "data": {"type": "null"},
        "error": {"type": "object", "properties": {
            "message": {"type": "string"}, "type": {"type": "string"},
            "code": {"type": "string"}}},
    },
}
_LOCAL_ERROR = {
    "type": "object",
    "required": ["status", "message", "data"],
    "properties": {"status": {"type": "integer"}, "message": {"type": "string"},
                   "data": {"type": "null"}},
}
_DESCRIPTIONS = {
    "400": "Bad input: the message names the field",
    "401": "No key, or an unknown one",
    "404": "No such task for this key (or no such file)",
    "409": "Idempotency-Key already used with a different request",
    "413": "Body over the size limit",
    "415": "Content-Type is not application/json",
    "429": "This key has too many tasks waiting or running (see Retry-After)",
    "503": "The database is unavailable for a moment (see Retry-After)",
    "507": "The server's disk is full (see Retry-After)",
}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying",
                                "schema": {"type": "integer"}}}
_SUBMIT_ERRORS = ("413", "415", "429", "507")


def error_statuses(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    """The error statuses one operation can answer."""
    statuses = []
    parameters = operation.get("parameters", [])
    if parameters or "requestBody" in operation:
        statuses.append("400")
    if not _is_public_path(path):
        statuses.append("401")
    if any(p.get("in") == "path" for p in parameters):
        statuses.append("404")
    if method == "post" and "requestBody" in operation:
        statuses.extend(_SUBMIT_ERRORS)
    if any(p.get("name", "").lower() == "idempotency-key" for p in parameters):
        statuses.append("409")
    if not _is_probe(path) or path == "/readyz":
        statuses.append("503")
    return statuses


def _is_public_path(path: str) -> bool:
    """Whether the auth layer lets this OpenAPI path template through without a key."""
    return is_public(path.replace("{", "").replace("}", ""))


def _is_probe(path: str) -> bool:
    return path in ("/healthz", "/readyz")


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the error answers to every operation of `schema` (in place), and return it."""
    for path, operations in schema.get("paths", {}).items():
        shape = _LOCAL_ERROR if path.startswith(LOCAL_PREFIX) else _SIRAY_ERROR
        public = _is_public_path(path)
        for method, operation in operations.items():
            if public:
                operation["security"] = []  # no key needed: the document must say so
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)  # validation errors are answered as 400
            for status in error_statuses(path, method, operation):
                answer = {"description": _DESCRIPTIONS[status],
                          "content": {"application/json": {"schema": shape}}}
                if status in ("429", "503", "507"):
                    answer["headers"] = _RETRY_AFTER
                responses.setdefault(status, answer)
    schema.get("components", {}).get("schemas", {}).pop("HTTPValidationError", None)
    schema.get("components", {}).get("schemas", {}).pop("ValidationError", None)
    return schema
