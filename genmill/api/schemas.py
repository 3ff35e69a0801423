"""JSON schemas of model params, shared by `GET /v1/models` and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from genmill.domain import Kind
from genmill.engines.base import ModelSpec
from genmill.engines.registry import Registry

_IMAGE_FIELDS = {
    "image": {"type": "string", "description": "Input image: an http(s) URL or a data: URL."},
    "images": {"type": "array", "items": {"type": "string"},
               "description": "More input images (URLs or data: URLs)."},
}


def params_schema(spec: ModelSpec) -> dict[str, Any]:
    """The model's params as one self-contained JSON schema (definitions inlined)."""
    schema = spec.params.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return inline(schema)


def submit_schema(spec: ModelSpec) -> dict[str, Any]:
    schema = params_schema(spec)
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
        "params": params_schema(spec),
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
