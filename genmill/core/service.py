"""TaskService: submit, get, list, cancel and delete tasks. Every dialect calls this."""

from __future__ import annotations

import logging
import re
import secrets
import time
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import ValidationError

from genmill.core import inputs as input_checks
from genmill.core.errors import InvalidRequest, NotFound, TooManyTasks, Unavailable
from genmill.domain import Kind, Status, Task, TaskStatus, new_task_id
from genmill.engines.base import ModelSpec
from genmill.engines.params import MAX_SEED
from genmill.engines.registry import Registry, UnknownModel
from genmill.storage import Storage
from genmill.store.tasks import TaskStore

log = logging.getLogger("genmill.tasks")

INPUT_FIELDS = ("image", "images")
MAX_IMAGES = 16
_OWN_OUTPUT_PATH = re.compile(
    r"/tasks/(?P<task_id>(?:image|video|3d)_[0-9a-f]{32})/(?P<name>[^/]+)$"
)


def describe_validation_error(error: ValidationError) -> tuple[str, str]:
    """The first problem as 'field: message', and the field's dotted name."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "body"
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown parameter for this model"
    message = message.removeprefix("Value error, ")
    return f"{field}: {message}", field


class TaskService:
    def __init__(
        self,
        store: TaskStore,
        registry: Registry,
        storage: Storage,
        max_attempts: int = 2,
        allow_private_fetch: bool = False,
        max_pending_per_key: int = 0,
    ) -> None:
        self.store = store
        self.registry = registry
        self.storage = storage
        self.max_attempts = max_attempts
        self.allow_private_fetch = allow_private_fetch
        self.max_pending_per_key = max_pending_per_key

    @property
    def status_reads_are_local(self) -> bool:
        """A status read is a lookup in a local file (SQLite), cheap enough to run on an
        event loop's own thread; else it is a network round trip."""
        return self.store.db.reads_are_local

    # -- submit ----------------------------------------------------------------------

    def resolve_model(self, model_id: Any, kind: Kind | None) -> ModelSpec:
        if not isinstance(model_id, str) or not model_id:
            raise InvalidRequest("model: required (see GET /v1/models)", "model")
        try:
            spec = self.registry.resolve(model_id)
        except UnknownModel:
            raise InvalidRequest(
                f"model: unknown model {model_id!r} (see GET /v1/models)", "model"
            ) from None
        if kind is not None and spec.kind != kind:
            raise InvalidRequest(
                f"model: {model_id!r} makes {spec.kind.value} outputs, not {kind.value}", "model"
            )
        return spec

    def submit(self, owner: str, body: dict[str, Any], kind: Kind | None = None) -> Task:
        """Validate everything a client sent, store the task QUEUED, return it."""
        if not isinstance(body, dict):
            raise InvalidRequest("body: must be a JSON object", "body")
        body = dict(body)
        spec = self.resolve_model(body.pop("model", None), kind)
        raw_inputs = {name: body.pop(name) for name in INPUT_FIELDS if name in body}
        priority = body.pop("priority", 0)
        if not isinstance(priority, int) or not -100 <= priority <= 100:
            raise InvalidRequest("priority: must be an integer from -100 to 100", "priority")
        try:
            params = spec.params.model_validate(body)
        except ValidationError as exc:
            message, field = describe_validation_error(exc)
            raise InvalidRequest(message, field) from None
        values = params.model_dump(mode="json")
        if values.get("seed", 0) == -1:
            values["seed"] = secrets.randbelow(MAX_SEED + 1)

        task = Task(
            id=new_task_id(spec.kind),
            kind=spec.kind,
            action=spec.kind.action,
            model=spec.id,
            owner=owner,
            status=Status.QUEUED,
            params=values,
            submit_time=time.time(),
            max_attempts=self.max_attempts,
            priority=priority,
            time_limit=spec.time_limit,
        )
        limit = self.max_pending_per_key
        if limit and self.store.count_unfinished(owner) >= limit:
            raise TooManyTasks(
                f"this key already has {limit} tasks waiting or running; retry when one ends"
            )
        pending = self._check_inputs(raw_inputs)
        if spec.mode.needs_image and not pending:
            raise InvalidRequest(f"image: {spec.id} needs an input image (URL or data: URL)",
                                 "image")
        try:
            for record, inline in pending:
                if inline is not None:
                    self.storage.save_input(task.id, record["stored"], inline.data)
                task.inputs.append(record)
        except OSError as exc:
            log.error("task %s: could not store its inputs: %s", task.id, exc)
            self._forget_files(task.id)
            raise Unavailable("storage unavailable: the inputs could not be stored; "
                              "retry later") from None
        try:
            self.store.insert(task)
        except Exception:
            self._forget_files(task.id)  # no orphaned input files
            raise
        log.info("task %s %s model=%s owner=%s", task.id, task.status.value, task.model,
                 owner or "-", extra={"task_id": task.id})
        return task

    def _forget_files(self, task_id: str) -> None:
        try:
            self.storage.delete_task(task_id)
        except OSError as exc:  # left for the retention sweep
            log.warning("task %s: could not remove its files: %s", task_id, exc)

    def _check_inputs(self, raw: dict[str, Any]) -> list[tuple[dict[str, Any], Any]]:
        """(record kept with the task, inline image to store or None) for each input."""
        pending: list[tuple[dict[str, Any], Any]] = []
        for field, value in raw.items():
            if value is None or value == "" or value == []:
                continue
            items = value if isinstance(value, list) else [value]
            if field == "image" and isinstance(value, list):
                raise InvalidRequest("image: one image; send several in `images`", field)
            if len(items) > MAX_IMAGES:
                raise InvalidRequest(f"{field}: at most {MAX_IMAGES} images", field)
            for index, item in enumerate(items):
                name = f"{field}[{index}]" if field == "images" else field
                if not isinstance(item, str):
                    raise InvalidRequest(f"{name}: must be a URL or a data: URL", name)
                record: dict[str, Any] = {"field": field}
                if item.startswith("data:"):
                    inline = input_checks.decode_data_url(item, name)
                    record.update(stored=f"{field}-{index}.{inline.extension}",
                                  content_type=inline.content_type)
                    pending.append((record, inline))
                    continue
                own = self._own_output(item)
                if own is not None:
                    record.update(task_output=own)
                else:
                    record.update(url=input_checks.check_remote_url(
                        item, name, self.allow_private_fetch))
                pending.append((record, None))
        return pending

    def _own_output(self, url: str) -> list[str] | None:
        """[task_id, file] when the URL names an output this server holds."""
        try:
            path = unquote(urlsplit(url).path)
        except ValueError:
            return None
        match = _OWN_OUTPUT_PATH.search(path)
        if not match:
            return None
        if self.storage.stat_output(match["task_id"], match["name"]) is None:
            return None
        return [match["task_id"], match["name"]]

    # -- read ------------------------------------------------------------------------

    def get(self, owner: str, task_id: str, kind: Kind | None = None) -> Task:
        """The task, if it exists, is this owner's and (if asked) of this kind; else 404."""
        task = self.store.get(task_id)
        if task is None or task.owner != owner or (kind is not None and task.kind != kind):
            raise NotFound(f"task {task_id} not found")
        return task

    def status(self, owner: str, task_id: str, kind: Kind | None = None) -> TaskStatus:
        """Like `get`, reading only what a status poll shows."""
        task = self.store.get_status(task_id)
        if task is None or task.owner != owner or (kind is not None and task.kind != kind):
            raise NotFound(f"task {task_id} not found")
        return task

    def output_expired(self, task_id: str, name: str) -> bool:
        """The task succeeded with this output, which is no longer stored: the retention
        sweep removed it (a file route answers 410 rather than 404)."""
        task = self.store.get_status(task_id)
        return task is not None and task.status == Status.SUCCESS and name in task.outputs

    def list(
        self,
        owner: str,
        page: int,
        page_size: int,
        statuses: list[Status] | None = None,
        kind: Kind | None = None,
        model: str | None = None,
    ) -> tuple[list[Task], int]:
        return self.store.list(owner, (page - 1) * page_size, page_size, statuses, kind, model)

    def readiness(self, worker_freshness: float) -> tuple[bool, bool, int]:
        """(the database answers, the storage answers, how many workers were seen in the
        last N seconds)."""
        try:
            self.storage.check()
            storage_ok = True
        except OSError as exc:
            log.error("storage not ready: %s", exc)
            storage_ok = False
        try:
            self.store.db.ping()
        except Exception:
            return False, storage_ok, 0
        return True, storage_ok, self.store.live_workers(worker_freshness)

    # -- cancel and delete -----------------------------------------------------------

    def cancel(self, owner: str, task_id: str) -> Task:
        task = self.get(owner, task_id)
        if task.status.is_final:
            return task
        updated = self.store.cancel(task_id)
        log.info("task %s cancel requested (was %s)", task_id, task.status.value,
                 extra={"task_id": task_id})
        return updated or task

    def delete(self, owner: str, task_id: str) -> None:
        """Cancel if waiting or running, then remove the task and all its files."""
        task = self.get(owner, task_id)
        if not task.status.is_final:
            self.store.cancel(task_id)
        self.store.delete(task_id)
        self.storage.delete_task(task_id)
        log.info("task %s deleted", task_id, extra={"task_id": task_id})
