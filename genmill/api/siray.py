"""The Siray dialect (`/v1`): submit, poll, models. Shapes follow shared/reference/."""

from __future__ import annotations

import functools
import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import Match, Route

from genmill.api.auth import OWNER, owner
from genmill.api.deps import base_url, components, json_object, public_base
from genmill.api.responses import json_response, output_urls, unix
from genmill.api.schemas import model_entry, status_operation, submit_body_schema
from genmill.components import Components
from genmill.domain import Kind, Task, TaskStatus
from genmill.engines.registry import Registry

# (kind, submit path, status path prefix) as the hosted service spells them.
ENDPOINTS = [
    (Kind.IMAGE, "/v1/images/generations/async", "/v1/images/generations/async"),
    (Kind.VIDEO, "/v1/video/generations", "/v1/video/generations"),
    (Kind.MESH, "/v1/3d/generations", "/v1/3d/generations"),
]


def status_document(task: Task | TaskStatus, base: str) -> dict[str, Any]:
    return {
        "code": "success",
        "message": "",
        "data": {
            "task_id": task.id,
            "action": task.action,
            "status": task.status.value,
            "progress": f"{task.progress}%",
            "outputs": output_urls(base, task),
            "start_time": unix(task.start_time),
            "finish_time": unix(task.finish_time),
            "submit_time": unix(task.submit_time),
            "fail_reason": task.fail_reason,
        },
    }


_json_string = json.encoder.encode_basestring  # a str as a JSON literal, like dumps()
_STATUS_TEMPLATE = (
    '{"code":"success","message":"","data":{"task_id":"%s","action":"%s","status":"%s",'
    '"progress":"%d%%","outputs":[%s],"start_time":%d,"finish_time":%d,"submit_time":%d,'
    '"fail_reason":%s}}'
)


def status_json(task: Task | TaskStatus, base: str) -> bytes:
    """`status_document` serialised, without building the dict: the hottest response.

    Ids, actions and statuses are genmill's own ASCII tokens; the free-text parts (URLs,
    fail_reason) go through json's own string encoder. A test holds it equal to the
    document.
    """
    outputs = ",".join(map(_json_string, output_urls(base, task)))
    return (_STATUS_TEMPLATE % (
        task.id, task.action, task.status.value, task.progress, outputs,
        unix(task.start_time), unix(task.finish_time), unix(task.submit_time),
        _json_string(task.fail_reason),
    )).encode("utf-8")


# A status changes a few times in a task's life and is polled many more: render each
# (status, base URL) once. The key is the whole status, so a changed task never matches.
_status_body = functools.lru_cache(maxsize=4096)(status_json)


class StatusRoute(Route):
    """A status poll: the hottest route, so a plain Starlette route that skips FastAPI's
    parameter solving (which costs as much as the lookup itself). It carries its own
    OpenAPI operation, which the app adds to the schema."""

    def __init__(self, path: str, endpoint, label: str, name: str) -> None:
        super().__init__(path, endpoint, methods=["GET"], name=name)
        self.openapi_operation = status_operation(label)

    def matches(self, scope):
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self  # as FastAPI's routes do: metrics label by template
        return match, child_scope


def _add_kind_routes(
    router: APIRouter,
    status_routes: list[StatusRoute],
    kind: Kind,
    submit_path: str,
    status_prefix: str,
    registry: Registry,
    parts: Components,
) -> None:
    async def submit(request: Request) -> Response:
        who = owner(request)
        body = await json_object(request)
        task = await run_in_threadpool(components(request).service.submit, who, body, kind)
        # Both levels: the official SDKs read task_id from the top of the reply.
        return json_response(
            {"code": "success", "message": "", "task_id": task.id, "data": {"task_id": task.id}}
        )

    # The poll takes its components from this closure, not from the request's app state.
    service, public_url = parts.service, parts.settings.public_url
    inline = service.status_reads_are_local  # else the loop must not wait on the network

    async def status(request: Request) -> Response:
        who, task_id = request.scope[OWNER], request.path_params["task_id"]
        if inline:
            task = service.status(who, task_id, kind)
        else:
            task = await run_in_threadpool(service.status, who, task_id, kind)
        body = _status_body(task, base_url(request.scope, public_url))
        return Response(body, media_type="application/json")

    label = {"image": "image", "video": "video", "3d": "3D"}[kind.value]
    router.add_api_route(
        submit_path, submit, methods=["POST"],
        summary=f"Submit a {label} generation task",
        description="Answers at once with a `task_id`; poll the status endpoint.",
        openapi_extra={"requestBody": {
            "required": True,
            "content": {"application/json": {"schema": submit_body_schema(registry, kind)}},
        }},
        name=f"submit_{kind.name.lower()}",
    )
    status_routes.append(StatusRoute(status_prefix + "/{task_id}", status, label,
                                     name=f"status_{kind.name.lower()}"))


def build_routes(
    registry: Registry, parts: Components
) -> tuple[APIRouter, list[StatusRoute]]:
    """The dialect's FastAPI routes, and its status routes (mounted first by the app)."""
    router = APIRouter(tags=["Siray API"])
    status_routes: list[StatusRoute] = []
    for kind, submit_path, status_prefix in ENDPOINTS:
        _add_kind_routes(router, status_routes, kind, submit_path, status_prefix, registry,
                         parts)

    @router.get("/v1/models", summary="List models with their modes and params schemas")
    async def models(request: Request) -> Response:
        specs = components(request).service.registry.models()
        return json_response({
            "code": "success",
            "message": "",
            "object": "list",
            "data": [model_entry(spec) for spec in specs],
        })

    @router.post("/v1/tasks/{task_id}/cancel", summary="Cancel a task (genmill extension)")
    async def cancel(task_id: str, request: Request) -> Response:
        who = owner(request)
        task = await run_in_threadpool(components(request).service.cancel, who, task_id)
        return json_response(status_document(task, public_base(request)))

    return router, status_routes
