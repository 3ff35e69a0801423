"""The blocking client."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from genmill.client import _sse, _wire, download
from genmill.client.errors import (
    DownloadError,
    GenmillError,
    NotFound,
    ServerUnreachable,
    WaitTimeout,
)
from genmill.client.inputs import ImageInput
from genmill.client.models import Kind, Model, Task, TaskEvent, TaskPage, kind_of_id
from genmill.client.polling import PollSchedule

OnUpdate = Callable[[Task], None]


class Client:
    """A genmill (or any Siray-compatible) server.

    `url` and `api_key` default to GENMILL_URL and GENMILL_API_KEY. `poll_interval`
    overrides the per-kind polling intervals the reference recommends (3-5 s image and
    video, 5-10 s 3D).

        with Client() as gm:
            task = gm.run("image", "test/steps-t2i", prompt="a red fox")
            paths = gm.download(task, "out/")
    """

    def __init__(self, url: str | None = None, api_key: str | None = None, *,
                 timeout: float = 30.0, poll_interval: float | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = _wire.resolve_url(url)
        self.api_key = _wire.resolve_key(api_key)
        self.poll_interval = poll_interval
        self._timeout = timeout
        self._http = httpx.Client(base_url=self.url, timeout=timeout, transport=transport,
                                  follow_redirects=True)
        self._kinds: dict[str, Kind] = {}

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: _wire.Call) -> httpx.Response:
        try:
            return self._http.request(call.method, call.path, json=call.json,
                                      params=call.params or None,
                                      headers=_wire.auth_headers(self.api_key))
        except httpx.TransportError as exc:
            raise ServerUnreachable(f"{self.url}: {exc or type(exc).__name__}") from exc

    # -- tasks ------------------------------------------------------------------------

    def submit(self, kind: Kind | str, model: str, prompt: str | None = None,
               image: ImageInput | None = None, *, images: list[ImageInput] | None = None,
               webhook: str | None = None, webhook_events_filter: list[str] | None = None,
               **params: Any) -> str:
        """Submit a task; returns its id at once. A path or bytes `image` is sent inline.
        `webhook`: an http(s) URL the server sends the task's events to, signed
        (Standard Webhooks); `webhook_events_filter`: any of "start", "progress",
        "completed" (the server's default: completed only)."""
        call = _wire.submit_call(kind, model, prompt, image, images, params,
                                 webhook, webhook_events_filter)
        task_id = _wire.submitted_id(self._send(call))
        self._kinds[task_id] = _wire.as_kind(kind)
        return task_id

    def get(self, task_id: str, *, detail: bool = False) -> Task:
        """The task's status (Siray dialect); `detail` reads the local task API's record,
        which also names the model."""
        if detail:
            return _wire.task_of(self._send(_wire.Call("GET", f"/api/v1/tasks/{task_id}")))
        kind = self._kinds.get(task_id) or kind_of_id(task_id)
        if kind:
            return _wire.task_of(self._send(_wire.status_call(task_id, kind)), kind)
        for candidate in Kind:  # an id without a kind prefix: ask each status route
            try:
                task = _wire.task_of(self._send(_wire.status_call(task_id, candidate)),
                                     candidate)
            except NotFound:
                continue
            self._kinds[task_id] = candidate
            return task
        raise NotFound(404, f"no task {task_id}")

    def events(self, task_id: str, *, last_event_id: str | None = None,
               timeout: float | None = None) -> Iterator[TaskEvent]:
        """The task's changes as they happen (server-sent events), ending after the final
        one. A dropped connection is resumed with the last event's id, so nothing is lost
        or repeated. WaitTimeout after `timeout` s; EventsUnsupported from a server
        without event streams."""
        kind = self._kinds.get(task_id) or kind_of_id(task_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        last: Task | None = None
        failures = 0
        while True:
            read_timeout = 60.0
            if deadline is not None:
                read_timeout = min(read_timeout, max(0.01, deadline - time.monotonic()))
            try:
                with self._http.stream(
                    "GET", f"/v1/tasks/{task_id}/events",
                    headers=_wire.events_headers(self.api_key, last_event_id),
                    timeout=httpx.Timeout(self._timeout, read=read_timeout),
                ) as response:
                    if not _wire.is_event_stream(response):
                        response.read()
                        _wire.check_event_stream(response)
                    parser = _sse.Parser()
                    for line in response.iter_lines():
                        if deadline is not None and time.monotonic() > deadline:
                            raise WaitTimeout(last, timeout or 0)
                        message = parser.feed(line)
                        event = message and _wire.event_of(message, kind)
                        if event is None:
                            continue
                        failures, last_event_id, last = 0, event.id, event.task
                        yield event
                        if event.task.done:
                            return
            except httpx.TransportError as exc:
                if deadline is not None and time.monotonic() > deadline:
                    raise WaitTimeout(last, timeout or 0) from None
                failures += 1
                if failures > _wire.RECONNECTS:
                    raise ServerUnreachable(f"{self.url}: {exc or type(exc).__name__}") from exc
                time.sleep(_wire.reconnect_delay(failures))
            # The stream ended before the final event (a server restart): resume it.

    def wait(self, task_id: str, timeout: float | None = None,
             on_update: OnUpdate | None = None) -> Task:
        """Follow the task until SUCCESS or FAILURE and return the final task (check
        `task.failed`): by its event stream where the server has one, else by polling.

        Rides out 429s (Retry-After) and transient errors; WaitTimeout after `timeout` s.
        """
        started = time.monotonic()
        try:
            for event in self.events(task_id, timeout=timeout):
                if on_update:
                    on_update(event.task)
                if event.task.done:
                    return event.task
        except WaitTimeout:
            raise
        except GenmillError:
            pass  # no event stream here, or it failed: polling names a missing task, and
            # rides out 429s and restarts
        if timeout is not None:
            timeout = max(0.0, timeout - (time.monotonic() - started))
        return self._poll(task_id, timeout, on_update)

    def _poll(self, task_id: str, timeout: float | None,
              on_update: OnUpdate | None) -> Task:
        schedule = PollSchedule(self._kinds.get(task_id) or kind_of_id(task_id),
                                self.poll_interval)
        deadline = None if timeout is None else time.monotonic() + timeout
        task: Task | None = None
        while True:
            try:
                task = self.get(task_id)
            except GenmillError as error:
                delay = schedule.after_error(error)
            else:
                if on_update:
                    on_update(task)
                if task.done:
                    return task
                delay = schedule.next_delay()
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeout(task, timeout or 0)
                delay = min(delay, left)
            time.sleep(delay)

    def run(self, kind: Kind | str, model: str, prompt: str | None = None,
            image: ImageInput | None = None, *, timeout: float | None = None,
            on_update: OnUpdate | None = None, **params: Any) -> Task:
        """submit() then wait()."""
        task_id = self.submit(kind, model, prompt, image, **params)
        return self.wait(task_id, timeout, on_update)

    def cancel(self, task_id: str) -> Task:
        return _wire.task_of(self._send(_wire.Call("POST", f"/v1/tasks/{task_id}/cancel")))

    def list(self, page: int = 1, page_size: int = 10, *, state: str | int | None = None,
             kind: Kind | str | None = None, model: str | None = None) -> TaskPage:
        """A page of tasks, newest first. `state`: running|success|failed (or 4|1|-1)."""
        return _wire.page_of(self._send(_wire.list_call(page, page_size, state, kind, model)))

    def delete(self, task_id: str) -> None:
        """Cancel the task if it is still going, then remove it and its files."""
        _wire.json_body(self._send(_wire.Call("DELETE", f"/api/v1/tasks/{task_id}")))
        self._kinds.pop(task_id, None)

    def models(self) -> list[Model]:
        return _wire.models_of(self._send(_wire.Call("GET", "/v1/models")))

    def workers(self) -> list[dict[str, Any]]:
        """The live workers: host, device ("cpu", "cuda:0"), models they hold loaded."""
        return _wire.workers_of(self._send(_wire.Call("GET", "/readyz")))

    # -- outputs ----------------------------------------------------------------------

    def download(self, task: Task | str, dest_dir: Path | str = ".", *,
                 retries: int = 3) -> list[Path]:
        """Fetch every output of a task into dest_dir; returns the files' paths."""
        if isinstance(task, str):
            task = self.get(task)
        return [self.download_url(url, dest_dir, retries=retries) for url in task.outputs]

    def download_url(self, url: str, dest_dir: Path | str = ".", *,
                     retries: int = 3) -> Path:
        """One file, resuming a `.part` left by an earlier attempt; retries resume too."""
        target = download.Target.for_url(url, dest_dir)
        for attempt in range(retries + 1):
            try:
                return self._download_once(url, target)
            except (httpx.TransportError, DownloadError) as exc:
                if attempt == retries:
                    if isinstance(exc, httpx.TransportError):
                        raise DownloadError(f"{target.final.name}: {exc}") from exc
                    raise
                time.sleep(min(5.0, 0.2 * 2 ** attempt))
        raise AssertionError("unreachable")

    def _download_once(self, url: str, target: download.Target) -> Path:
        # No auth header: output URLs are capabilities, and may point at another host.
        with self._http.stream("GET", url, headers=target.request_headers()) as response:
            if response.status_code >= 400 and response.status_code != 416:
                response.read()
                _wire.raise_for_error(response)
            plan = download.plan(target, response)
            if not plan.complete:
                with download.open_part(target, plan, response) as out:
                    for chunk in response.iter_bytes(download.CHUNK):
                        out.write(chunk)
        return download.finish(target, plan)

