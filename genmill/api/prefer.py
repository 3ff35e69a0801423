"""The `Prefer: wait` request header (RFC 7240): answer a submit once the task is final.

`Prefer: wait` waits up to MAX_WAIT seconds, `Prefer: wait=N` up to N (capped). A
preference that cannot be understood is ignored, as the RFC asks; the answer names what it
applied in `Preference-Applied`.
"""

from __future__ import annotations

MAX_WAIT = 60


def preferred_wait(headers: list[str]) -> int | None:
    """Seconds to wait, or None when the client did not ask (or asked nonsense)."""
    for header in headers:
        for preference in header.split(","):
            name, _, value = preference.split(";")[0].strip().partition("=")
            if name.strip().lower() != "wait":
                continue
            value = value.strip().strip('"')
            if not value:
                return MAX_WAIT
            if value.isdigit() and int(value) > 0:
                return min(int(value), MAX_WAIT)
            return None
    return None
