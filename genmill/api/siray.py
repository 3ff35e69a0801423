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
from genmill.api.event_hub import wait_until_final
from genmill.api.prefer import preferred_wait
from genmill.api.responses import json_response, output_urls, unix
from genmill.api.schemas import (
    model_entry,
    status_operation,
    submit_body_schema,
    submit_examples,
    with_article,
)
from genmill.api.status_batch import StatusBatchers
from genmill.components import Components
from genmill.domain import Kind, Status, Task, TaskStatus
from genmill.engines.registry import Registry
from genmill.store.webhooks import WebhookSettings

# (kind, submit path, status path prefix) as the hosted service spells them.
ENDPOINTS = [
    (Kind.IMAGE, "/v1/images/generations/async", "/v1/images/generations/async"),
    (Kind.VIDEO, "/v1/video/generations", "/v1/video/generations"),
    (Kind.MESH, "/v1/3d/generations", "/v1/3d/generations"),
]


IDEMPOTENCY_PARAMETER = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "maxLength": 255},
    "description": "A retry with the same key and the same body within 24 h answers the "
                   "same task and creates none; another body under the key is a 409.",
}
PREFER_PARAMETERS = [IDEMPOTENCY_PARAMETER, {
    "name": "Prefer", "in": "header", "required": False, "schema": {"type": "string"},
    "description": "`wait` or `wait=N` (N ≤ 60): answer when the task is final or N seconds "
                   "passed, with the status document's fields in `data` and "
                   "`Preference-Applied`.",
}, {
    "name": "Cancel-After", "in": "header", "required": False, "schema": {"type": "string"},
    "description": "Seconds, or a duration like `90s`, `5m`, `1h`: a task not final by "
                   "then ends FAILURE \"deadline exceeded\". The body may instead give "
                   "`deadline` (Unix seconds).",
}]


_NULLABLE_NUMBER = {"type": ["number", "null"]}
WEBHOOK_DELIVERIES_SCHEMA = {
    "type": "object",
    "properties": {
        "code": {"type": "string"}, "message": {"type": "string"},
        "data": {"type": "array", "items": {"type": "object", "properties": {
            "webhook_id": {"type": "string"},
            "type": {"type": "string",
                     "enum": ["task.started", "task.progress", "task.completed"]},
            "url": {"type": "string"},
            "state": {"type": "string", "enum": ["pending", "delivered", "failed", "gone",
                                                 "refused", "dropped"]},
            "attempts": {"type": "integer"},
            "last_status_code": {"type": ["integer", "null"]},
            "last_error": {"type": "string"},
            "last_attempt_time": _NULLABLE_NUMBER,
            "next_attempt_time": _NULLABLE_NUMBER,
            "created_time": {"type": "number"},
        }}},
    },
}


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
        service = components(request).service
        task = await run_in_threadpool(service.submit, who, body, kind,
                                       request.headers.get("idempotency-key"),
                                       request.headers.get("cancel-after"),
                                       public_base(request))
        wait = preferred_wait(request.headers.getlist("prefer"))
        if wait is None:
            # Both levels: the official SDKs read task_id from the top of the reply.
            return json_response({"code": "success", "message": "", "task_id": task.id,
                                  "data": {"task_id": task.id}})

        async def is_final() -> bool:
            return (await run_in_threadpool(service.status, who, task.id)).status.is_final

        await wait_until_final(request.app.state.event_hubs.current(), is_final, task.id, wait)
        status = await run_in_threadpool(service.status, who, task.id)
        document = status_document(status, public_base(request))
        response = json_response({**document, "task_id": task.id})
        response.headers["Preference-Applied"] = f"wait={wait}"
        return response

    # The poll takes its components from this closure, not from the request's app state.
    service, public_url = parts.service, parts.settings.public_url
    inline = service.status_reads_are_local  # else the loop must not wait on the network
    # A memo kept fresh by the database's notifications; the polls it cannot answer share
    # one query.
    batchers = StatusBatchers(service.statuses, service.status_feed
                              if parts.settings.status_memo else lambda: None)

    async def status(request: Request) -> Response:
        who, task_id = request.scope[OWNER], request.path_params["task_id"]
        if inline:
            task = service.status(who, task_id, kind)
        else:
            batcher = batchers.current()
            found = batcher.remembered(task_id)
            if found is None:
                found = await batcher.get(task_id)
            task = service.visible_status(found, who, task_id, kind)
        body = _status_body(task, base_url(request.scope, public_url))
        return Response(body, media_type="application/json")

    label = {"image": "image", "video": "video", "3d": "3D"}[kind.value]
    router.add_api_route(
        submit_path, submit, methods=["POST"],
        summary=f"Submit {with_article(label)} generation task",
        description="Answers at once with a `task_id`; poll the status endpoint.",
        openapi_extra={"requestBody": {
            "required": True,
            "content": {"application/json": {"schema": submit_body_schema(registry, kind),
                                             "examples": submit_examples(registry, kind)}},
        }, "parameters": PREFER_PARAMETERS},
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

    @router.get("/v1/tasks/{task_id}", summary="A task with its settings and place in the "
                                                "queue (genmill extension)",
                description="The status document's `data`, plus `model`, `params`, "
                            "`priority`, `attempts`, `max_attempts`, `queue_position` "
                            "(0-based among queued tasks; null unless queued), `deadline` "
                            "(Unix seconds, or null), `webhook` and `webhook_events_filter` "
                            "(null without a webhook).")
    async def task_resource(task_id: str, request: Request) -> Response:
        service, who = components(request).service, owner(request)

        def read() -> tuple[Task, int | None, WebhookSettings | None]:
            task = service.get(who, task_id)
            position = service.queue_position(task_id) if task.status == Status.QUEUED \
                else None
            return task, position, service.webhook(task_id)

        task, position, webhook = await run_in_threadpool(read)
        document = status_document(task, public_base(request))
        document["data"].update(model=task.model, params=task.params, priority=task.priority,
                                attempts=task.attempts, max_attempts=task.max_attempts,
                                queue_position=position, deadline=task.deadline,
                                webhook=webhook.url if webhook else None,
                                webhook_events_filter=list(webhook.events) if webhook
                                else None)
        return json_response(document)

    @router.get("/v1/tasks/{task_id}/webhooks",
                summary="A task's webhook deliveries (genmill extension)",
                description="One entry per event sent or to send, oldest first: `type` "
                            "(task.started, task.progress, task.completed), `webhook_id` "
                            "(the same on every attempt), `state` (pending, delivered, "
                            "failed, gone, refused, dropped), `attempts`, "
                            "`last_status_code`, `last_error`, `last_attempt_time` and "
                            "`next_attempt_time` (Unix seconds, null when none). An empty "
                            "list: no webhook, or no event yet.",
                responses={200: {"content": {"application/json": {
                    "schema": WEBHOOK_DELIVERIES_SCHEMA}}}})
    async def webhook_deliveries(task_id: str, request: Request) -> Response:
        service, who = components(request).service, owner(request)
        deliveries = await run_in_threadpool(service.webhook_deliveries, who, task_id)
        return json_response({"code": "success", "message": "", "data": deliveries})

    @router.post("/v1/tasks/{task_id}/cancel", summary="Cancel a task (genmill extension)")
    async def cancel(task_id: str, request: Request) -> Response:
        who = owner(request)
        task = await run_in_threadpool(components(request).service.cancel, who, task_id)
        return json_response(status_document(task, public_base(request)))

    return router, status_routes
