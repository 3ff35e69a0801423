"""TaskService: submit, get, list, cancel and delete tasks. Every dialect calls this."""

from __future__ import annotations

import difflib
import errno
import hashlib
import json
import logging
import re
import secrets
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import ValidationError

from genmill.core import inputs as input_checks
from genmill.core import webhooks
from genmill.core.errors import Conflict, InvalidRequest, NotFound, TooManyTasks, Unavailable
from genmill.core.param_checks import refuse_bools_for_numbers, refuse_non_finite
from genmill.domain import Kind, Status, Task, TaskStatus, new_task_id
from genmill.engines.base import ModelSpec
from genmill.engines.params import MAX_SEED
from genmill.engines.registry import Registry, UnknownModel
from genmill.storage import Storage
from genmill.store import idempotency
from genmill.store import webhooks as webhook_store
from genmill.store.connector import StatusFeed
from genmill.store.errors import StoreFull
from genmill.store.idempotency import AlreadyClaimed, IdempotencyClaim
from genmill.store.queue import queue_position
from genmill.store.tasks import TaskStore
from genmill.store.webhooks import WebhookSettings

log = logging.getLogger("genmill.tasks")

INPUT_FIELDS = ("image", "images")
MAX_IMAGES = 16
_OWN_OUTPUT_PATH = re.compile(
    r"/tasks/(?P<task_id>(?:image|video|3d)_[0-9a-f]{32})/(?P<name>[^/]+)$"
)


IDEMPOTENCY_HEADER = "Idempotency-Key"
_KEY_CHARS = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as Stripe and the IETF draft


def _checked_key(key: str) -> str:
    if not _KEY_CHARS.fullmatch(key):
        raise InvalidRequest("Idempotency-Key: must be 1 to 255 visible ASCII characters",
                             IDEMPOTENCY_HEADER)
    return key


def _request_hash(kind: Kind | None, body: dict[str, Any]) -> str:
    """Same request = same endpoint kind and the same JSON, whatever the key order."""
    canonical = json.dumps([kind.value if kind else None, body], sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


MAX_DEADLINE_SECONDS = 7 * 24 * 3600
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}


def _deadline(field: Any, cancel_after: str | None, now: float) -> float | None:
    """The earlier of the body's `deadline` (Unix seconds) and now + `Cancel-After`."""
    deadlines = []
    if field is not None:
        if isinstance(field, bool) or not isinstance(field, int | float) or field <= now:
            raise InvalidRequest("deadline: must be a Unix time in seconds, in the future",
                                 "deadline")
        deadlines.append(float(field))
    if cancel_after is not None:
        match = _DURATION.fullmatch(cancel_after)
        seconds = float(match[1]) * _UNIT_SECONDS[match[2]] if match else 0
        if not 0 < seconds <= MAX_DEADLINE_SECONDS:
            raise InvalidRequest("Cancel-After: must be seconds or a duration like 90s, 5m or "
                                 "1h, at most 7 days", "Cancel-After")
        deadlines.append(now + seconds)
    return min(deadlines, default=None)


def describe_validation_error(error: ValidationError,
                               known: Iterable[str] = ()) -> tuple[str, str]:
    """The first problem as 'field: message', and the field's dotted name. An unknown
    field names the closest of the `known` ones, as a typo usually has one."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "body"
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = unknown_field_message(field, known)
    message = message.removeprefix("Value error, ")
    return f"{field}: {message}", field


def unknown_field_message(field: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(field, list(known), n=1, cutoff=0.6)
    if close:
        return f"unknown parameter; did you mean {close[0]}?"
    return "unknown parameter for this model (see its params in GET /v1/models)"


class TaskService:
    def __init__(
        self,
        store: TaskStore,
        registry: Registry,
        storage: Storage,
        max_attempts: int = 2,
        allow_private_fetch: bool = False,
        max_pending_per_key: int = 0,
        webhook_secrets: webhooks.WebhookSecrets | None = None,
        allow_private_webhooks: bool = False,
    ) -> None:
        self.store = store
        self.registry = registry
        self.storage = storage
        self.max_attempts = max_attempts
        self.allow_private_fetch = allow_private_fetch
        self.max_pending_per_key = max_pending_per_key
        self.webhook_secrets = webhook_secrets or webhooks.WebhookSecrets(None, {})
        self.allow_private_webhooks = allow_private_webhooks

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

    def submit(self, owner: str, body: dict[str, Any], kind: Kind | None = None,
               idempotency_key: str | None = None, cancel_after: str | None = None,
               base_url: str = "") -> Task:
        """Validate everything a client sent, store the task QUEUED, return it.

        With an `idempotency_key` already used by this owner in the last 24 h for the same
        request, return that task and store nothing; for another request, 409.
        `base_url` is where the client reached this server: a webhook's output URLs."""
        if not isinstance(body, dict):
            raise InvalidRequest("body: must be a JSON object", "body")
        claim = None
        if idempotency_key is not None:
            claim = IdempotencyClaim(owner, _checked_key(idempotency_key),
                                     _request_hash(kind, body))
            found = idempotency.lookup(self.store.db, claim)
            if found is not None:
                return self._claimed(owner, found)
        body = dict(body)
        spec = self.resolve_model(body.pop("model", None), kind)
        raw_inputs = {name: body.pop(name) for name in INPUT_FIELDS if name in body}
        priority = body.pop("priority", 0)
        if (not isinstance(priority, int) or isinstance(priority, bool)
                or not -100 <= priority <= 100):
            raise InvalidRequest("priority: must be an integer from -100 to 100", "priority")
        deadline = _deadline(body.pop("deadline", None), cancel_after, time.time())
        webhook = webhooks.requested(body, base_url, self.allow_private_webhooks,
                                     self.webhook_secrets, owner)
        try:
            params = spec.params.model_validate(body)
        except ValidationError as exc:
            known = [*spec.params_schema().get("properties", {}), *INPUT_FIELDS, "priority",
                     *webhooks.FIELDS]
            message, field = describe_validation_error(exc, known)
            raise InvalidRequest(message, field) from None
        refuse_bools_for_numbers(body, params)
        values = params.model_dump(mode="json")
        refuse_non_finite(values)
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
            deadline=deadline,
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
            if exc.errno == errno.ENOSPC:
                raise  # a full disk: the API answers 507, saying to delete old tasks
            raise Unavailable("storage unavailable: the inputs could not be stored; "
                              "retry later") from None
        limit = self.max_pending_per_key
        try:
            if not self.store.insert(task, max_unfinished=limit, idempotency=claim,
                                     webhook=webhook):
                raise TooManyTasks(  # counted atomically with the insert
                    f"this key already has {limit} tasks waiting or running; retry when one ends"
                )
        except AlreadyClaimed as found:  # a concurrent submit under the same key won
            self.storage.delete_task(task.id)
            return self._claimed(owner, found)
        except Exception:
            self._forget_files(task.id)  # no orphaned input files
            raise
        log.info("task %s %s model=%s owner=%s", task.id, task.status.value, task.model,
                 owner or "-", extra={"task_id": task.id})
        return task

    def _claimed(self, owner: str, found: AlreadyClaimed) -> Task:
        if not found.same_request:
            raise Conflict("Idempotency-Key: already used with a different request; use a "
                           "new key for a new request", IDEMPOTENCY_HEADER)
        task = self.store.get(found.task_id)
        if task is None or task.owner != owner:
            raise Conflict(f"Idempotency-Key: its task {found.task_id} was deleted; use a "
                           "new key", IDEMPOTENCY_HEADER)
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
        return self.visible_status(self.store.get_status(task_id), owner, task_id, kind)

    def statuses(self, task_ids: list[str]) -> dict[str, TaskStatus]:
        """Many tasks' statuses read at once, whoever owns them: each must then pass
        `visible_status` for the caller that asked for it."""
        return self.store.get_statuses(task_ids)

    def status_feed(self) -> StatusFeed | None:
        """A listener for the ids of tasks whose status changed, for a memo of polled
        statuses on a networked database (None on SQLite, whose reads are local)."""
        return self.store.db.status_feed()

    @staticmethod
    def visible_status(task: TaskStatus | None, owner: str, task_id: str,
                       kind: Kind | None = None) -> TaskStatus:
        """`task` if `owner` may see it (as `kind`, when given), else NotFound."""
        if task is None or task.owner != owner or (kind is not None and task.kind != kind):
            raise NotFound(f"task {task_id} not found")
        return task

    def webhook(self, task_id: str) -> WebhookSettings | None:
        """The task's webhook settings (the caller has checked the task is theirs)."""
        return webhook_store.settings_of(self.store.db, task_id)

    def webhook_deliveries(self, owner: str, task_id: str) -> list[dict[str, Any]]:
        """The task's webhook deliveries, oldest first; another key's task is a 404."""
        self.get(owner, task_id)
        return webhook_store.of_task(self.store.db, task_id)

    def queue_position(self, task_id: str) -> int | None:
        """0-based place among queued tasks (priority, then age); None if not queued."""
        return queue_position(self.store.db, task_id)

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

    def readiness(self, worker_freshness: float) -> tuple[bool, bool, list[dict]]:
        """(the database answers, the storage answers, the workers seen in the last N
        seconds: host, device and the models each holds loaded)."""
        try:
            self.storage.check()
            storage_ok = True
        except OSError as exc:
            log.error("storage not ready: %s", exc)
            storage_ok = False
        try:
            self.store.db.ping()
        except Exception:
            return False, storage_ok, []
        return True, storage_ok, self.store.worker_list(worker_freshness)

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
        try:
            self._delete_row(task)
        except StoreFull:
            # Deleting is how a full disk is cleared: free the files first, then the
            # database has room for the row's delete.
            self.storage.delete_task(task_id)
            self._delete_row(task)
        self.storage.delete_task(task_id)
        log.info("task %s deleted", task_id, extra={"task_id": task_id})

    def _delete_row(self, task: Task) -> None:
        if not task.status.is_final:
            self.store.cancel(task.id)
        self.store.delete(task.id)
