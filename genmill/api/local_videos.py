"""`POST /api/v1/videos`: the local task API's generation endpoint.

Takes the MoneyPrinterTurbo family's request fields and runs them as a
`genmill/narrated-t2v` task: `combined-N.mp4` (picture only) and `final-N.mp4` (with
narration and captions) for N = 1..video_count. genmill works offline, so what those
servers fetch from the network (an LLM-written script, stock footage) is a 400 that says
what to send instead.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from genmill.api.auth import owner
from genmill.api.deps import components, json_object, public_base
from genmill.api.errors import ApiError
from genmill.api.responses import WEBHOOK_FIELDS, local_success
from genmill.core.errors import InvalidRequest
from genmill.domain import Kind

router = APIRouter(prefix="/api/v1", tags=["Local task API"])

MODEL = "genmill/narrated-t2v"

# Request field -> narrated-t2v param, where the meaning is the same.
RENAMED = {
    "video_script": "script",
    "video_subject": "title",
    "video_aspect": "aspect_ratio",
    "video_clip_duration": "clip_duration",
}
SAME_NAME = (
    "video_count", "voice_name", "voice_rate", "voice_volume", "subtitle_enabled",
    "subtitle_position", "font_size", "text_fore_color", "stroke_color", "stroke_width",
    "bgm_volume", "seed", "webhook", "webhook_events_filter",
)
# Sent by the family's clients with their defaults; they choose things genmill decides
# itself (fonts, transitions, threads), so they are accepted and have no effect.
ACCEPTED_WITHOUT_EFFECT = (
    "video_concat_mode", "video_transition_mode", "video_language", "font_name",
    "bgm_type", "bgm_file", "n_threads", "paragraph_number", "match_materials",
    "custom_position",
)
OFFLINE_SOURCES = ("", "local", None)

REQUEST_SCHEMA = {
    "type": "object",
    "required": ["video_script"],
    "properties": {
        "video_subject": {"type": "string", "description": "Title shown on the first card."},
        "video_script": {"type": "string", "description": "The narration (required: "
                         "genmill does not call an LLM to write one)."},
        "video_aspect": {"type": "string", "enum": ["9:16", "16:9", "1:1"]},
        "video_clip_duration": {"type": "number", "description": "Longest seconds per clip."},
        "video_count": {"type": "integer", "minimum": 1, "maximum": 4},
        "video_source": {"type": "string", "enum": ["local"],
                         "description": "Only local materials (no stock-footage download)."},
        "video_materials": {"type": "array", "items": {
            "type": "object", "properties": {
                "provider": {"type": "string", "enum": ["local", "url"]},
                "url": {"type": "string", "description": "http(s) URL, data: URL, or an "
                        "output URL of this server"}}}},
        "voice_name": {"type": "string"}, "voice_rate": {"type": "number"},
        "voice_volume": {"type": "number"}, "subtitle_enabled": {"type": "boolean"},
        "subtitle_position": {"type": "string", "enum": ["bottom", "center", "top"]},
        "font_size": {"type": "integer"}, "text_fore_color": {"type": "string"},
        "stroke_color": {"type": "string"}, "stroke_width": {"type": "number"},
        "bgm_volume": {"type": "number"},
        **WEBHOOK_FIELDS,
    },
}


def to_narrated_body(request: dict[str, Any]) -> dict[str, Any]:
    """The family's request as a narrated-t2v submission (or a 400 naming the field)."""
    fields = dict(request)
    script = fields.pop("video_script", None)
    if not isinstance(script, str) or not script.strip():
        raise ApiError(400, "video_script: required. genmill runs offline and does not "
                            "write scripts with an LLM: send the narration text itself.")
    source = fields.pop("video_source", None)
    if source not in OFFLINE_SOURCES:
        raise ApiError(400, f"video_source: {source!r} needs the network (stock footage). "
                            "Send your own pictures in video_materials with provider 'local' "
                            "or 'url', or leave video_source out for generated backgrounds.")
    body: dict[str, Any] = {"model": MODEL, "script": script}
    images = []
    materials = fields.pop("video_materials", None)
    if materials is None:
        materials = []
    if not isinstance(materials, list):
        raise ApiError(400, "video_materials: must be a list of objects with a url")
    for index, material in enumerate(materials):
        name = f"video_materials[{index}]"
        if not isinstance(material, dict) or not isinstance(material.get("url"), str):
            raise ApiError(400, f"{name}: must be an object with a url")
        if material.get("provider", "local") not in ("local", "url"):
            raise ApiError(400, f"{name}.provider: {material['provider']!r} needs the "
                                "network; use 'local' or 'url' with your own picture")
        images.append(material["url"])
    if images:
        body["images"] = images
    if fields.get("subtitle_position") == "custom":
        # The family's free placement (custom_position) has no equivalent: bottom.
        fields["subtitle_position"] = "bottom"
    for field, param in RENAMED.items():
        if field in fields:
            body[param] = fields.pop(field)
    for field in SAME_NAME:
        if field in fields:
            body[field] = fields.pop(field)
    for field in ACCEPTED_WITHOUT_EFFECT:
        fields.pop(field, None)
    if fields:
        raise ApiError(400, f"{sorted(fields)[0]}: unknown field")
    return body


@router.post("/videos", summary="Generate narrated videos (MoneyPrinterTurbo request fields)",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": REQUEST_SCHEMA}}}})
async def create_videos(request: Request) -> Response:
    who = owner(request)
    body = to_narrated_body(await json_object(request))
    try:
        task = await run_in_threadpool(components(request).service.submit, who, body,
                                       Kind.VIDEO, request.headers.get("idempotency-key"),
                                       request.headers.get("cancel-after"),
                                       public_base(request))
    except InvalidRequest as exc:
        raise _in_request_terms(exc) from None
    return local_success({"task_id": task.id})


def _in_request_terms(exc: InvalidRequest) -> InvalidRequest:
    """Name the field the client sent (video_script), not the model's param (script)."""
    for field, param in [*RENAMED.items(), ("video_materials", "images")]:
        if exc.field and exc.field.split("[")[0].split(".")[0] == param:
            message = field + exc.message.removeprefix(param)
            return InvalidRequest(message, field)
    return exc
