"""How long to sleep between status polls: per-kind intervals, jitter, backoff.

The reference documents recommend polling every 3-5 s for image and video tasks and every
5-10 s for 3D. A schedule starts at the low end and drifts to the high end while a task
keeps running; jitter keeps many clients from polling in lock-step. Transient failures
(no answer, 5xx) back off exponentially; a 429 waits as long as Retry-After says.
"""

from __future__ import annotations

import random

from genmill.client.errors import GenmillError, RateLimited, ServerError, ServerUnreachable
from genmill.client.models import Kind

RECOMMENDED = {Kind.IMAGE: (3.0, 5.0), Kind.VIDEO: (3.0, 5.0), Kind.MESH: (5.0, 10.0)}
GROWTH = 1.2  # per poll, from the low end of the range to the high end
JITTER = 0.1  # ± fraction of each delay
MAX_BACKOFF = 30.0
TRANSIENT = (ServerUnreachable, ServerError)


class PollSchedule:
    def __init__(self, kind: Kind | None, poll_interval: float | None = None,
                 max_transient_errors: int = 8, rng: random.Random | None = None) -> None:
        low, high = RECOMMENDED.get(kind, RECOMMENDED[Kind.IMAGE]) if kind else (3.0, 5.0)
        if poll_interval is not None:  # an override keeps the range's shape
            low, high = poll_interval, poll_interval * high / low
        self.low, self.high = low, high
        self.max_transient_errors = max_transient_errors
        self._rng = rng or random.Random()
        self._polls = 0
        self._errors = 0

    def _jitter(self, delay: float) -> float:
        return delay * self._rng.uniform(1 - JITTER, 1 + JITTER)

    def next_delay(self) -> float:
        """After an answer that says the task is still going."""
        self._errors = 0
        delay = min(self.high, self.low * GROWTH ** self._polls)
        self._polls += 1
        return self._jitter(delay)

    def after_error(self, error: GenmillError) -> float:
        """After a failed poll: the delay before the next try, or re-raise if it is fatal."""
        if isinstance(error, RateLimited):
            if error.retry_after is not None:
                return error.retry_after + self._rng.uniform(0, self.low * JITTER)
            return self._jitter(self.high)
        if not isinstance(error, TRANSIENT):
            raise error
        self._errors += 1
        if self._errors > self.max_transient_errors:
            raise error
        # "Equal jitter": never retries at once, yet spreads reconnecting clients out.
        ceiling = min(MAX_BACKOFF, self.low * 2 ** (self._errors - 1))
        return self._rng.uniform(ceiling / 2, ceiling)
