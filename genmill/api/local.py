"""The local task API (`/api/v1`) of the MoneyPrinterTurbo family: list, state, delete.

Shapes follow shared/reference/local-task-api.txt: `{"status": 200, "message":
"success", "data": ...}`, task state 4 (waiting or running), 1 (success), -1 (failed).
Stream and download live in `files.py`; video generation (`POST /api/v1/videos`) in
`local_videos.py`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from genmill.api.auth import owner
from genmill.api.deps import components, public_base
from genmill.api.errors import ApiError
from genmill.api.responses import local_success, output_urls, unix
from genmill.domain import Kind, Status, Task

router = APIRouter(prefix="/api/v1", tags=["Local task API"])

STATE_OF = {
    Status.NOT_START: 4, Status.SUBMITTED: 4, Status.QUEUED: 4, Status.IN_PROGRESS: 4,
    Status.SUCCESS: 1, Status.FAILURE: -1,
}
STATUSES_OF_STATE = {
    state: [status for status, s in STATE_OF.items() if s == state] for state in (4, 1, -1)
}


def local_task(task: Task, base: str, queue_position: int | None = None) -> dict[str, Any]:
    urls = output_urls(base, task)
    videos = [u for n, u in zip(task.outputs, urls, strict=True)
              if n.endswith(".mp4") and not n.startswith("combined-")]
    combined = [u for n, u in zip(task.outputs, urls, strict=True)
                if n.endswith(".mp4") and n.startswith("combined-")]
    return {
        "task_id": task.id,
        "state": STATE_OF[task.status],
        "progress": task.progress,
        "videos": videos,
        "combined_videos": combined,
        "outputs": urls,
        "kind": task.kind.value,
        "model": task.model,
        "status": task.status.value,
        "fail_reason": task.fail_reason,
        "submit_time": unix(task.submit_time),
        "start_time": unix(task.start_time),
        "finish_time": unix(task.finish_time),
        "queue_position": queue_position,  # 0-based among queued tasks; null unless queued
    }


def _with_positions(service, tasks: list[Task]) -> list[tuple[Task, int | None]]:
    return [(task, service.queue_position(task.id) if task.status == Status.QUEUED else None)
            for task in tasks]


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name}: must be an integer from {low} to {high}") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name}: must be an integer from {low} to {high}")
    return value


_LIST_PARAMETERS = [
    {"name": "page", "in": "query",
     "schema": {"type": "integer", "minimum": 1, "maximum": 1_000_000}},
    {"name": "page_size", "in": "query",
     "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
    {"name": "state", "in": "query", "schema": {"type": "integer", "enum": [4, 1, -1]}},
    {"name": "kind", "in": "query", "schema": {"type": "string",
                                                "enum": ["image", "video", "3d"]}},
    {"name": "model", "in": "query", "schema": {"type": "string"}},
]


@router.get("/tasks", summary="List tasks, newest first",
            description="Query: `page` (1..), `page_size` (1-100), filters `state` "
                        "(4, 1, -1), `kind` (image, video, 3d), `model`.",
            openapi_extra={"parameters": _LIST_PARAMETERS})
async def list_tasks(request: Request) -> Response:
    who = owner(request)
    page = _int_param(request, "page", 1, 1, 1_000_000)
    page_size = _int_param(request, "page_size", 10, 1, 100)
    statuses = None
    if request.query_params.get("state"):
        state = _int_param(request, "state", 0, -1, 4)
        if state not in STATUSES_OF_STATE:
            raise ApiError(400, "state: must be 4 (processing), 1 (success) or -1 (failed)")
        statuses = STATUSES_OF_STATE[state]
    kind = None
    if request.query_params.get("kind"):
        try:
            kind = Kind(request.query_params["kind"])
        except ValueError:
            raise ApiError(400, "kind: must be image, video or 3d") from None
    model = request.query_params.get("model") or None
    service = components(request).service

    def page_of_tasks():
        tasks, total = service.list(who, page, page_size, statuses, kind, model)
        return _with_positions(service, tasks), total

    tasks, total = await run_in_threadpool(page_of_tasks)
    base = public_base(request)
    return local_success({"tasks": [local_task(t, base, p) for t, p in tasks], "total": total,
                          "page": page, "page_size": page_size})


@router.get("/tasks/{task_id}", summary="A task's state, progress and output URLs")
async def get_task(task_id: str, request: Request) -> Response:
    service, who = components(request).service, owner(request)
    [(task, position)] = await run_in_threadpool(
        lambda: _with_positions(service, [service.get(who, task_id)]))
    return local_success(local_task(task, public_base(request), position))


@router.post("/tasks/{task_id}/cancel", summary="Cancel a task: a waiting one ends at once, "
                                                 "a running one is stopped by its worker")
async def cancel_task(task_id: str, request: Request) -> Response:
    task = await run_in_threadpool(components(request).service.cancel, owner(request),
                                   task_id)
    return local_success(local_task(task, public_base(request)))


@router.delete("/tasks/{task_id}", summary="Cancel a task if needed, then delete it and its "
                                            "files")
async def delete_task(task_id: str, request: Request) -> Response:
    who = owner(request)
    await run_in_threadpool(components(request).service.delete, who, task_id)
    return local_success(None)
