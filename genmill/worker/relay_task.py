"""One relay task, start to end: submit upstream (or resume the upstream task already
submitted), poll it, copy its outputs into genmill's storage.

Runs as a coroutine of the relay runner (worker/relay_runner.py), which owns the lease,
the cancel and the database thread pool. The upstream id is recorded before the first
poll, so a runner that dies mid-wait leaves a task that the next claim resumes instead of
submitting twice.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import random
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from genmill.domain import Task
from genmill.engines.relays.errors import UpstreamError, UpstreamRefused, UpstreamUnavailable
from genmill.engines.relays.http import UpstreamHTTP
from genmill.engines.relays.upstream import Poll, Relay

log = logging.getLogger("genmill.relay")
T = TypeVar("T")
MAX_BACKOFF = 30.0


class RelayFailed(Exception):
    """The task ends FAILURE with this message (already prefixed with the upstream)."""


class RelayUnavailable(RelayFailed):
    """The upstream stayed unreachable through every retry: the attempt is spent, and
    the task goes back to the queue while attempts remain (FAILURE with this message
    after the last), keeping its upstream task if one was submitted."""


async def with_retries(relay: Relay, call: Callable[[], Awaitable[T]], what: str) -> T:
    """`call()`, retried on 429, 5xx and no connection (after Retry-After when the
    upstream sent one, else a growing jittered backoff) up to the entry's bound."""
    failures = 0
    while True:
        try:
            return await call()
        except UpstreamRefused as exc:
            raise RelayFailed(f"{relay.upstream}: {exc}") from None
        except UpstreamError as exc:
            raise RelayFailed(relay.redact(f"{relay.upstream}: {what}: {exc}")) from None
        except UpstreamUnavailable as exc:
            failures += 1
            if failures > relay.max_retries:
                raise RelayUnavailable(relay.redact(
                    f"{relay.upstream}: unavailable while {what}: {exc} (gave up after "
                    f"{failures} tries)")) from None
            delay = exc.retry_after
            if delay is None:
                delay = min(MAX_BACKOFF, 0.5 * 2 ** (failures - 1)) * random.uniform(0.8, 1.2)
            await asyncio.sleep(delay)


_UNSAFE = re.compile(r"[^A-Za-z0-9._()+-]+")


def output_name(url: str, index: int, content_type: str, taken: set[str]) -> str:
    """A safe, unique file name for the index-th output: the URL's own, where it has one."""
    parts = urlsplit(url)
    named = parse_qs(parts.query).get("filename")  # ComfyUI's /view?filename=...
    base = named[0] if named else parts.path.rsplit("/", 1)[-1]
    name = _UNSAFE.sub("-", unquote(base)).strip("-.")
    if "." not in name:
        extension = mimetypes.guess_extension(content_type.split(";")[0].strip()) or ".bin"
        name = f"{name or 'output'}-{index + 1}{extension}"
    if len(name) > 200 or ".." in name:
        name = f"output-{index + 1}{Path(name).suffix[:10]}"
    while name in taken:
        name = f"{index + 1}-{name}"
    taken.add(name)
    return name


class Download:
    """Copy one upstream output into the staging directory, streaming."""

    def __init__(self, http: UpstreamHTTP, relay: Relay, headers: dict[str, str]) -> None:
        self.http, self.relay, self.headers = http, relay, headers

    async def __call__(self, url: str, index: int, staging: Path, taken: set[str]) -> str:
        async def fetch() -> str:
            async with self.http.stream(url, self.headers) as response:
                status = response.status
                if status in (401, 403):
                    raise UpstreamRefused(status)
                if status == 429 or status >= 500:
                    raise UpstreamUnavailable(f"HTTP {status}")
                if status >= 400:
                    raise UpstreamError(f"output {index + 1}: HTTP {status}")
                name = output_name(url, index, response.headers.get("content-type", ""),
                                   set(taken))
                with open(staging / name, "wb") as out:
                    async for chunk in response.content.iter_chunked(1 << 20):
                        out.write(chunk)
            taken.add(name)
            return name

        return await with_retries(self.relay, fetch, "copying outputs")


def same_origin(url: str, base_url: str) -> bool:
    a, b = urlsplit(url), urlsplit(base_url)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


# Polls fall due on a grid of this step, so that one wake-up of the runner sends every
# poll due in that tenth of a second: a poll at a moment of its own cost twice the CPU of
# one sent beside others (0.6 against 0.3 ms, 300 tasks polling every 2 s on this 2-core
# machine), because the waking, not the request, was most of it.
POLL_GRID = 0.1


async def sleep_on_grid(delay: float) -> None:
    """Sleep about `delay` seconds, waking on the next multiple of POLL_GRID."""
    now = asyncio.get_running_loop().time()
    await asyncio.sleep((((now + delay) // POLL_GRID) + 1) * POLL_GRID - now)


async def follow(task: Task, relay: Relay, http: UpstreamHTTP, upstream_id: str,
                 on_progress: Callable[[int], Awaitable[Any]]) -> Poll:
    """Poll until the upstream task ends; its last look (SUCCESS) or RelayFailed.

    Polls come every `poll_interval` ± 20 %, the first after a random part of one
    interval, so tasks submitted together do not poll in step: N tasks cost about N
    requests per interval. They are sent on POLL_GRID's ticks."""
    await sleep_on_grid(relay.poll_interval * random.uniform(0.3, 1.0))
    shown = task.progress
    while True:
        poll = await with_retries(relay, lambda: relay.poll(http, upstream_id), "polling")
        if poll.state == "success":
            return poll
        if poll.state == "failure":
            raise RelayFailed(relay.redact(
                f"{relay.upstream}: {poll.fail_reason or 'the upstream task failed'}"))
        progress = min(99, poll.progress)
        if progress > shown:
            await on_progress(progress)
            shown = progress
        await sleep_on_grid(relay.poll_interval * random.uniform(0.8, 1.2))
