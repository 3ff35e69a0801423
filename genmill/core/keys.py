"""API keys and the names that own tasks. With no keys configured genmill runs open:
every caller is the anonymous owner "" (and `genmill serve` binds loopback only)."""

from __future__ import annotations

import functools
import hashlib

ANONYMOUS = ""


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


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
        """The name owning this key, or None for a key that is not on the ring."""
        return self._recent(key)

    def _lookup(self, key: str) -> str | None:
        return self._owners.get(_digest(key))
