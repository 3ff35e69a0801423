"""API keys: `Authorization: Bearer <key>` or `X-API-Key: <key>`; the key's name owns tasks.

With no keys configured genmill runs open (every request is the anonymous owner ""), and
`genmill serve` refuses to bind anything but a loopback address in that case.
"""

from __future__ import annotations

import functools
import hashlib

from starlette.requests import Request

from genmill.api.errors import ApiError

ANONYMOUS = ""


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def _presented_key(headers: list[tuple[bytes, bytes]]) -> str:
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


class KeyRing:
    def __init__(self, keys: dict[str, str]) -> None:
        # Looked up by SHA-256 digest: how long a lookup takes can tell an attacker
        # about digests only, never about how much of a real key they guessed.
        self._owners = {_digest(key): name for name, key in keys.items()}
        # A client sends its key on every poll: remember the answer for the last few keys
        # seen. A hit is a probe of a dict whose string hashing is keyed per process, so
        # it shows no more than the digest lookup does.
        self._recent = functools.lru_cache(maxsize=256)(self._lookup)

    @property
    def open(self) -> bool:
        return not self._owners

    def owner_of(self, key: str) -> str | None:
        return self._recent(key)

    def _lookup(self, key: str) -> str | None:
        return self._owners.get(_digest(key))

    def authenticate(self, request: Request) -> str:
        if self.open:
            return ANONYMOUS
        key = _presented_key(request.scope["headers"])
        if not key:
            raise ApiError(401, "missing API key: send Authorization: Bearer <key>",
                           headers={"WWW-Authenticate": "Bearer"})
        owner = self.owner_of(key)
        if owner is None:
            raise ApiError(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
        return owner
