"""The webhook deliverer: sends the outbox's events, signed, to their receivers.

One per supervisor (every `genmill serve` and `genmill worker`), in its own thread with
its own event loop, so a slow receiver never touches a task, a worker or the API. Many
deliverers may share a database: each leases the rows it sends (`store/webhooks.claim`).

Isolation: each receiver (host:port) has `webhook_receiver_concurrency` slots in this
process, and a receiver whose slots are all busy is not even read from the outbox, so a
receiver that hangs holds only its own slots while the others' events go on at once.
Every attempt has one deadline (`webhook_timeout`) for everything, slow trickles included.

SSRF: the receiver's name is resolved on every attempt, every address is checked (no
loopback, private, link-local or multicast unless GENMILL_ALLOW_PRIVATE_WEBHOOKS=1), the
connection goes to the checked address, and redirects are not followed.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import random
import secrets
import socket
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp
from standardwebhooks import Webhook

from genmill import __version__
from genmill.config import Settings
from genmill.core.inputs import is_public_address
from genmill.core.webhooks import WebhookSecrets, event_body
from genmill.store import webhooks as outbox
from genmill.store.connector import Database
from genmill.store.errors import StoreUnavailable
from genmill.worker.retry import Backoff

log = logging.getLogger("genmill.webhooks")

MAX_IN_FLIGHT = 64  # attempts at once in one process, all receivers together
PROGRESS_STALE_SECONDS = 30.0  # a progress event not sent by then is dropped, not sent late
MAX_ANSWER_BYTES = 64 * 1024  # read of a receiver's answer (its status is what counts)
JITTER = 0.1  # retry delays vary by ±10 %, so failed receivers are not hit in waves


class Refused(Exception):
    """The receiver's address may not be reached (SSRF rules)."""


class Deliverer:
    def __init__(self, settings: Settings, db: Database, signing: WebhookSecrets) -> None:
        self.db = db
        self.signing = signing
        self.schedule = list(settings.webhook_retry_schedule)
        self.timeout = settings.webhook_timeout
        self.per_receiver = settings.webhook_receiver_concurrency
        self.poll_interval = settings.webhook_poll_interval
        self.allow_private = settings.allow_private_webhooks
        self.lease_seconds = self.timeout + 30
        self.owner = f"{socket.gethostname()}:{os.getpid()}:webhooks:{secrets.token_hex(4)}"
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="genmill-webhooks",
                                        daemon=True)
        self._in_flight: dict[str, int] = defaultdict(int)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop sending; attempts under way are abandoned and their rows given back."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:
            log.exception("webhook deliverer stopped")

    async def _main(self) -> None:
        backoff = Backoff(first=self.poll_interval, cap=5.0)
        running: set[asyncio.Task] = set()
        headers = {"User-Agent": f"genmill/{__version__}", "Content-Type": "application/json"}
        # aiohttp, not httpx: a delivery's POST cost 0.34 ms of CPU through it against 1.6
        # ms through httpx (the relays' reason too, engines/relays/http.py). No cookies,
        # no proxy from the environment, no redirects (the receiver's URL is the one
        # that was checked).
        async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), headers=headers,
                cookie_jar=aiohttp.DummyCookieJar(), trust_env=False) as client:
            try:
                while not self._stopping.is_set():
                    try:
                        claimed = await self._claim()
                        if backoff.failures:
                            backoff.reset()
                    except StoreUnavailable as exc:
                        if not backoff.failures:
                            log.warning("webhooks: database unavailable (%s)", exc)
                        await asyncio.sleep(backoff.next_delay())
                        continue
                    except Exception:  # a bug must not end deliveries for good
                        log.exception("webhooks: claiming deliveries failed")
                        await asyncio.sleep(backoff.next_delay())
                        continue
                    for delivery in claimed:
                        self._in_flight[delivery.receiver] += 1
                        task = asyncio.create_task(self._deliver(client, delivery))
                        running.add(task)
                        task.add_done_callback(running.discard)
                    if not claimed:
                        await asyncio.sleep(self.poll_interval)
            finally:
                for task in running:
                    task.cancel()
                await asyncio.gather(*running, return_exceptions=True)
                try:
                    await asyncio.to_thread(outbox.release, self.db, self.owner)
                except Exception as exc:  # the leases run out by themselves
                    log.warning("webhooks: could not give back leased deliveries: %s", exc)

    async def _claim(self) -> list[outbox.Delivery]:
        room = MAX_IN_FLIGHT - sum(self._in_flight.values())
        if room <= 0 or not await asyncio.to_thread(outbox.any_due, self.db):
            return []
        free = {receiver: self.per_receiver - busy
                for receiver, busy in self._in_flight.items() if busy}
        return await asyncio.to_thread(outbox.claim, self.db, self.owner, self.lease_seconds,
                                       free, self.per_receiver, room)

    async def _deliver(self, client: aiohttp.ClientSession, delivery: outbox.Delivery) -> None:
        try:
            outcome = await self._attempt(client, delivery)
        finally:
            self._in_flight[delivery.receiver] -= 1
            if not self._in_flight[delivery.receiver]:
                del self._in_flight[delivery.receiver]
        await self._record(delivery, outcome)

    async def _attempt(self, client: aiohttp.ClientSession,
                       delivery: outbox.Delivery) -> dict:
        """One try; what to record about it."""
        secret = self.signing.secret_for(delivery.owner)
        if secret is None:
            return {"state": outbox.FAILED, "attempted": False,
                    "error": "no webhook signing secret is configured for this key"}
        if (delivery.event == "task.progress"
                and time.time() - delivery.created_at > PROGRESS_STALE_SECONDS):
            return {"state": outbox.DROPPED, "attempted": False,
                    "error": "progress event too old to send"}
        try:
            async with asyncio.timeout(self.timeout):
                status = await self._post(client, delivery, secret)
        except Refused as exc:
            log.warning("webhook %s of task %s refused: %s", delivery.id, delivery.task_id,
                        exc, extra={"task_id": delivery.task_id})
            return {"state": outbox.REFUSED, "error": str(exc)}
        except TimeoutError:
            return self._failed(delivery, None, f"no answer within {self.timeout:g} s")
        except (aiohttp.ClientError, OSError) as exc:
            return self._failed(delivery, None, f"{type(exc).__name__}: {exc}".rstrip(": "))
        if 200 <= status < 300:
            return {"state": outbox.DELIVERED, "status_code": status}
        if status == 410:
            return {"state": outbox.GONE, "status_code": status,
                    "error": "the receiver answered 410 Gone: no more tries"}
        return self._failed(delivery, status, f"answered HTTP {status}")

    def _failed(self, delivery: outbox.Delivery, status: int | None, error: str) -> dict:
        done = delivery.attempts + 1
        outcome = {"status_code": status, "error": error}
        if delivery.event != "task.completed":  # best effort: one try
            return {**outcome, "state": outbox.DROPPED}
        if done >= len(self.schedule):
            return {**outcome, "state": outbox.FAILED}
        delay = self.schedule[done] * random.uniform(1 - JITTER, 1 + JITTER)
        return {**outcome, "state": outbox.PENDING, "next_try": time.time() + delay}

    async def _post(self, client: aiohttp.ClientSession, delivery: outbox.Delivery,
                    secret: str) -> int:
        parts = urlsplit(delivery.url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = await self._resolve(host, port)
        literal = f"[{address}]" if ":" in address else address
        pinned = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/",
                             parts.query, ""))
        body = event_body(delivery)
        now = datetime.now(UTC)
        headers = {
            "Host": parts.netloc.rsplit("@", 1)[-1],
            "webhook-id": delivery.id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(secret).sign(delivery.id, now, body),
        }
        if parts.username is not None:  # https://user:pass@host/: Basic auth, as browsers
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
        # The URL names the checked address; TLS still checks the certificate against
        # the host name (server_hostname), and the Host header carries it.
        async with client.post(pinned, data=body.encode(), headers=headers,
                               allow_redirects=False,
                               server_hostname=host if parts.scheme == "https" else None,
                               timeout=aiohttp.ClientTimeout(total=self.timeout)) as response:
            read = 0
            async for chunk in response.content.iter_any():
                read += len(chunk)
                if read > MAX_ANSWER_BYTES:
                    break
            return response.status

    async def _resolve(self, host: str, port: int) -> str:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise OSError(f"cannot resolve {host!r}: {exc.strerror}") from None
        addresses = [info[4][0] for info in infos]
        if not self.allow_private:
            private = [a for a in addresses if not is_public_address(a)]
            if private:
                raise Refused(f"{host!r} resolves to a private, loopback, link-local or "
                              f"multicast address ({private[0]}); see "
                              "GENMILL_ALLOW_PRIVATE_WEBHOOKS")
        return addresses[0]

    async def _record(self, delivery: outbox.Delivery, outcome: dict) -> None:
        backoff = Backoff(first=0.2, cap=2.0)
        for _ in range(5):
            try:
                await asyncio.to_thread(self._write, delivery, outcome)
                return
            except StoreUnavailable:
                await asyncio.sleep(backoff.next_delay())
        # Not recorded: its lease runs out and the event is sent again (at least once).
        log.warning("webhook %s: could not record its attempt", delivery.id)

    def _write(self, delivery: outbox.Delivery, outcome: dict) -> None:
        outbox.record(self.db, delivery, self.owner, outcome["state"],
                      status_code=outcome.get("status_code"), error=outcome.get("error", ""),
                      next_try=outcome.get("next_try"),
                      attempted=outcome.get("attempted", True))
        level = logging.INFO if outcome["state"] == outbox.DELIVERED else logging.WARNING
        log.log(level, "webhook %s %s of task %s to %s: %s%s", delivery.id, delivery.event,
                delivery.task_id, delivery.receiver, outcome["state"],
                f" ({outcome['error']})" if outcome.get("error") else "",
                extra={"task_id": delivery.task_id})
