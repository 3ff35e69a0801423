"""JSON schemas of model params, shared by `GET /v1/models` and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from genmill.domain import Kind
from genmill.engines import ModelSpec
from genmill.engines.registry import Registry

_IMAGE_FIELDS = {
    "image": {"type": "string", "description": "Input image: an http(s) URL or a data: URL."},
    "images": {"type": "array", "items": {"type": "string"},
               "description": "More input images (URLs or data: URLs)."},
}


def submit_schema(spec: ModelSpec) -> dict[str, Any]:
    schema = spec.params_schema()
    properties = {"model": {"type": "string", "const": spec.id}}
    properties.update(schema.get("properties", {}))
    properties.update(_IMAGE_FIELDS)
    required = ["model", *schema.get("required", [])]
    if spec.mode.needs_image:
        required.append("image")
    return {
        "title": spec.id,
        "description": spec.description,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def submit_body_schema(registry: Registry, kind: Kind) -> dict[str, Any]:
    variants = [submit_schema(spec) for spec in registry.models(kind)]
    if not variants:
        return {"type": "object", "description": f"No {kind.value} models are registered."}
    return {"oneOf": variants}


def model_entry(spec: ModelSpec) -> dict[str, Any]:
    return {
        "id": spec.id,
        "object": "model",
        "model_name": spec.display_name,
        "tag": spec.mode.value,
        "kind": spec.kind.value,
        "description": spec.description,
        "params": spec.params_schema(),
    }


STATUS_SCHEMA = {
    "type": "object",
    "required": ["code", "message", "data"],
    "properties": {
        "code": {"type": "string", "example": "success"},
        "message": {"type": "string"},
        "data": {
            "type": "object",
            "properties": {
                "task_id": {"type": "string"},
                "action": {"type": "string", "example": "imageGenerate"},
                "status": {"type": "string", "enum": [
                    "NOT_START", "SUBMITTED", "QUEUED", "IN_PROGRESS", "SUCCESS", "FAILURE"]},
                "progress": {"type": "string", "example": "100%"},
                "outputs": {"type": "array", "items": {"type": "string", "format": "uri"}},
                "start_time": {"type": "integer", "description": "Unix seconds; 0 while unset"},
                "finish_time": {"type": "integer", "description": "Unix seconds; 0 while unset"},
                "submit_time": {"type": "integer", "description": "Unix seconds"},
                "fail_reason": {"type": "string"},
            },
        },
    },
}


def status_operation(label: str) -> dict[str, Any]:
    """The OpenAPI operation of a status poll route (served as a plain route)."""
    return {
        "get": {
            "tags": ["Siray API"],
            "summary": f"Query a {label} generation task",
            "parameters": [{"name": "task_id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {
                "200": {"description": "Task status and (if available) outputs",
                        "content": {"application/json": {"schema": STATUS_SCHEMA}}},
                "404": {"description": "No such task for this key, or of another kind"},
            },
        }
    }
