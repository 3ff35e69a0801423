"""What routes share: the app's components, the public base URL, the JSON body.

The caller's identity comes from the authentication layer (`api/auth.owner`)."""

from __future__ import annotations

import functools
import json
import math
from typing import Any

from starlette.requests import Request

from genmill.api.errors import ApiError
from genmill.components import Components


def components(request: Request) -> Components:
    return request.app.state.components


def public_base(request: Request) -> str:
    """Base of output URLs: the configured public URL, else the one the client used."""
    return base_url(request.scope, components(request).settings.public_url)


def base_url(scope: dict[str, Any], configured: str) -> str:
    """`public_base` from the ASGI scope, as Starlette's `base_url` reads it (scheme, Host
    header, root path) but without building URL objects: it runs on every status poll."""
    if configured:
        return configured.rstrip("/")
    for name, value in scope["headers"]:
        if name == b"host":
            netloc = value
            break
    else:
        host, port = scope.get("server") or ("localhost", 80)
        netloc = f"{host}:{port}".encode("latin-1")
    return _base(scope.get("scheme", "http"), netloc, scope.get("root_path", ""))


@functools.lru_cache(maxsize=256)  # a server is reached by a handful of names
def _base(scheme: str, netloc: bytes, root_path: str) -> str:
    return f"{scheme}://{netloc.decode('latin-1')}{root_path}".rstrip("/")


async def json_object(request: Request) -> dict[str, Any]:
    """The request's JSON object body, or a 4xx naming what is wrong with it."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        raise ApiError(415, f"Content-Type: {content_type!r} is not supported; send the "
                            "body as application/json")
    raw = await request.body()
    if not raw.strip():
        raise ApiError(400, "body: a JSON object is required")
    try:
        body = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except NonFiniteNumber as exc:
        raise ApiError(400, f"body: {exc}") from None
    except RecursionError:
        raise ApiError(400, "body: JSON nested too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"body: not valid JSON ({exc})") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise ApiError(400, f"body: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "body: must be a JSON object")
    return body


class NonFiniteNumber(ValueError):
    """NaN, Infinity or a number too large for a float: JSON has no such values and
    PostgreSQL's JSON columns refuse them, so they are refused at the door."""


def _refuse_constant(name: str) -> float:
    raise NonFiniteNumber(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NonFiniteNumber(f"{text[:40]} is out of range for a number")
    return value
