"""The task, its kinds and modes, and the one state machine every dialect maps."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, field
from typing import Any, NamedTuple


class Kind(enum.StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    MESH = "3d"

    @property
    def action(self) -> str:
        # The Siray SDK reads `data.action`; hosted image tasks report "imageGenerate".
        return {"image": "imageGenerate", "video": "videoGenerate", "3d": "3dGenerate"}[self.value]


class Mode(enum.StrEnum):
    """What a model does; the `tag` of `GET /v1/models`."""

    TEXT_TO_IMAGE = "text-to-image"
    IMAGE_TO_IMAGE = "image-to-image"
    TEXT_TO_VIDEO = "text-to-video"
    IMAGE_TO_VIDEO = "image-to-video"
    TEXT_TO_3D = "text-to-3d"
    IMAGE_TO_3D = "image-to-3d"

    @property
    def kind(self) -> Kind:
        return {
            "image": Kind.IMAGE,
            "video": Kind.VIDEO,
            "3d": Kind.MESH,
        }[self.value.rsplit("-", 1)[1]]

    @property
    def needs_image(self) -> bool:
        return self.value.startswith("image-to-")


class Status(enum.StrEnum):
    NOT_START = "NOT_START"
    SUBMITTED = "SUBMITTED"
    QUEUED = "QUEUED"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"

    @property
    def is_final(self) -> bool:
        # A set of plain strings: `Status.SUCCESS` looked up on the enum class costs far
        # more (about 0.8 us a call), and event fan-out asks once per stream per event.
        return self in _FINAL


_FINAL = frozenset({"SUCCESS", "FAILURE"})

# Allowed moves. IN_PROGRESS -> QUEUED is a lease that expired or a worker that shut down.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NOT_START: frozenset({Status.SUBMITTED, Status.QUEUED, Status.FAILURE}),
    Status.SUBMITTED: frozenset({Status.QUEUED, Status.FAILURE}),
    Status.QUEUED: frozenset({Status.IN_PROGRESS, Status.FAILURE}),
    Status.IN_PROGRESS: frozenset({Status.QUEUED, Status.SUCCESS, Status.FAILURE}),
    Status.SUCCESS: frozenset(),
    Status.FAILURE: frozenset(),
}


def can_move(old: Status, new: Status) -> bool:
    return new in TRANSITIONS[old]


def new_task_id(kind: Kind) -> str:
    """`image_<32 hex>` etc.: 128 bits from the OS CSPRNG, so output URLs are unguessable."""
    return f"{kind.value}_{secrets.token_hex(16)}"


def kind_of_task_id(task_id: str) -> Kind | None:
    prefix, _, rest = task_id.partition("_")
    if len(rest) != 32 or any(c not in "0123456789abcdef" for c in rest):
        return None
    try:
        return Kind(prefix)
    except ValueError:
        return None


class TaskStatus(NamedTuple):
    """What a poll shows: the part of a task read on every status request.

    Immutable, so the store may hand the same one to many polls. A named tuple rather
    than a frozen dataclass: built from a row that already is a tuple, several times
    faster.
    """

    id: str
    kind: Kind
    action: str
    model: str
    owner: str
    status: Status
    progress: int
    outputs: tuple[str, ...]
    fail_reason: str
    submit_time: float
    start_time: float | None
    finish_time: float | None


@dataclass
class Task:
    id: str
    kind: Kind
    model: str
    owner: str
    status: Status = Status.QUEUED
    action: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    progress: int = 0
    message: str = ""
    outputs: list[str] = field(default_factory=list)
    fail_reason: str = ""
    submit_time: float = 0.0
    start_time: float | None = None
    finish_time: float | None = None
    attempts: int = 0
    max_attempts: int = 2
    priority: int = 0
    time_limit: float = 0.0
    cancel_requested: bool = False
    lease_owner: str | None = None
    lease_expires: float | None = None
    deadline: float | None = None  # Unix time; not final by then: FAILURE "deadline exceeded"

    @property
    def seed(self) -> int:
        return int(self.params.get("seed", 0))


class TaskEvent(NamedTuple):
    """One change of a task as a client sees it (a server-sent event): the task's status
    fields at that change, and `seq`, the event id, which rises with every change."""

    seq: int
    id: str
    kind: Kind
    action: str
    owner: str
    status: Status
    progress: int
    outputs: tuple[str, ...]
    fail_reason: str
    submit_time: float
    start_time: float | None
    finish_time: float | None
