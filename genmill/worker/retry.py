"""Riding out database outages: backoff delays and a call retried until it succeeds.

A database blip costs the worker and the supervisor a wait, never their process or the
task being rendered: only `StoreUnavailable` (an outage, a lost connection, a full
disk) is retried; any other error is a bug and propagates.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from genmill.store.errors import StoreUnavailable

T = TypeVar("T")
MAX_DELAY = 2.0  # the longest a worker waits between two tries
log = logging.getLogger("genmill.worker")


class Backoff:
    """Delays that double from `first` up to `cap`, with jitter so that many workers
    coming back at once do not hit the database in step."""

    def __init__(self, first: float = 0.1, cap: float = MAX_DELAY) -> None:
        self.first, self.cap = first, cap
        self.failures = 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.first * 2 ** self.failures)
        self.failures += 1
        return delay * random.uniform(0.75, 1.0)

    def reset(self) -> None:
        self.failures = 0


class GaveUp(Exception):
    """`persist` stopped retrying because its caller asked it to (shutting down)."""


def persist(action: Callable[[], T], what: str, give_up: Callable[[], bool] = lambda: False,
            backoff: Backoff | None = None) -> T:
    """`action()`, retried with backoff while the database is unavailable.

    Raises GaveUp once `give_up()` turns true between two tries."""
    backoff = backoff or Backoff()
    while True:
        try:
            result = action()
        except StoreUnavailable as exc:
            if backoff.failures == 0:
                log.warning("%s failed (%s); retrying until the database is back", what, exc)
            if give_up():
                raise GaveUp(what) from exc
            time.sleep(backoff.next_delay())
            continue
        if backoff.failures:
            log.info("%s succeeded after %d retries", what, backoff.failures)
            backoff.reset()
        return result
