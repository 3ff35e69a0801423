"""Typed results: what the server's JSON documents mean, independent of the dialect."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from genmill.client.errors import ProtocolError, TaskFailed


class Kind(enum.StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    MESH = "3d"


class Status(enum.StrEnum):
    NOT_START = "NOT_START"
    SUBMITTED = "SUBMITTED"
    QUEUED = "QUEUED"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"

    @property
    def is_final(self) -> bool:
        return self in (Status.SUCCESS, Status.FAILURE)


# The local task API's `state` numbers, for filters.
STATE_NUMBERS = {"running": 4, "success": 1, "failed": -1}
_STATE_TO_STATUS = {1: Status.SUCCESS, -1: Status.FAILURE}


def kind_of_id(task_id: str) -> Kind | None:
    """Task ids carry their kind (`image_…`, `video_…`, `3d_…`), as on the hosted service."""
    prefix = task_id.partition("_")[0]
    try:
        return Kind(prefix)
    except ValueError:
        return None


def _time(value: Any) -> datetime | None:
    # Siray sends unix seconds with 0 meaning unset; accept ISO strings too.
    if value in (None, 0, "", "0"):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except ValueError:
            parsed = datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ProtocolError(f"not a time: {value!r}")


def _progress(value: Any) -> int:
    # Siray: "42%"; local API: 42.
    if isinstance(value, str):
        value = value.strip().rstrip("%") or "0"
    try:
        return max(0, min(100, int(float(value))))
    except (TypeError, ValueError):
        raise ProtocolError(f"not a progress: {value!r}") from None


def _status(data: dict[str, Any]) -> Status:
    raw = data.get("status")
    if raw is None and "state" in data:  # a bare local-API record: only the state number
        return _STATE_TO_STATUS.get(data["state"], Status.IN_PROGRESS)
    try:
        return Status(raw)
    except ValueError:
        raise ProtocolError(f"unknown task status {raw!r}") from None


@dataclass(frozen=True)
class Task:
    task_id: str  # as the wire names it; `id` is the same
    status: Status
    progress: int
    outputs: list[str]
    fail_reason: str = ""
    kind: Kind | None = None
    model: str | None = None
    action: str | None = None
    submit_time: datetime | None = None
    start_time: datetime | None = None
    finish_time: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, data: dict[str, Any], kind: Kind | None = None) -> Task:
        """From a Siray status `data` or a local task API record."""
        try:
            task_id = data["task_id"]
        except (KeyError, TypeError):
            raise ProtocolError(f"no task_id in {data!r}") from None
        wire_kind = data.get("kind")
        return cls(
            task_id=task_id,
            status=_status(data),
            progress=_progress(data.get("progress", 0)),
            outputs=list(data.get("outputs") or data.get("videos") or []),
            fail_reason=data.get("fail_reason") or "",
            kind=Kind(wire_kind) if wire_kind else kind or kind_of_id(task_id),
            model=data.get("model"),
            action=data.get("action"),
            submit_time=_time(data.get("submit_time")),
            start_time=_time(data.get("start_time")),
            finish_time=_time(data.get("finish_time")),
            raw=dict(data),
        )

    @property
    def id(self) -> str:
        """The task id (an alias of `task_id`)."""
        return self.task_id

    @property
    def done(self) -> bool:
        return self.status.is_final

    @property
    def succeeded(self) -> bool:
        return self.status is Status.SUCCESS

    @property
    def failed(self) -> bool:
        return self.status is Status.FAILURE

    def raise_for_failure(self) -> Task:
        """Self if it did not fail; TaskFailed if it did (like httpx's raise_for_status)."""
        if self.failed:
            raise TaskFailed(self)
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields (times as ISO 8601), for --json output."""
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "task_id": self.task_id,
            "kind": self.kind.value if self.kind else None,
            "model": self.model,
            "status": self.status.value,
            "progress": self.progress,
            "outputs": self.outputs,
            "fail_reason": self.fail_reason,
            "submit_time": iso(self.submit_time),
            "start_time": iso(self.start_time),
            "finish_time": iso(self.finish_time),
        }


@dataclass(frozen=True)
class TaskEvent:
    """One change of a task, from its event stream. `id` resumes the stream after it."""

    id: str | None
    task: Task
    queue_position: int | None  # 0-based among queued tasks; None unless queued


@dataclass(frozen=True)
class TaskPage:
    tasks: list[Task]
    total: int
    page: int
    page_size: int


@dataclass(frozen=True)
class Model:
    id: str
    name: str
    mode: str
    kind: Kind | None
    description: str
    params: dict[str, Any]

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Model:
        mode = data.get("tag") or ""
        kind = data.get("kind") or mode.rpartition("-")[2]
        return cls(
            id=data["id"],
            name=data.get("model_name") or data["id"],
            mode=mode,
            kind=Kind(kind) if kind in {k.value for k in Kind} else None,
            description=data.get("description") or "",
            params=data.get("params") or {},
        )

    def param_names(self) -> list[str]:
        return [name for name in self.params.get("properties", {}) if name != "prompt"]
