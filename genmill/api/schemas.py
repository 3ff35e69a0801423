"""JSON schemas of model params, shared by `GET /v1/models` and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from genmill.api.responses import WEBHOOK_FIELDS
from genmill.domain import Kind
from genmill.engines import ModelSpec
from genmill.engines.registry import Registry

_IMAGE_FIELDS = {
    "image": {"type": "string", "description": "Input image: an http(s) URL or a data: URL."},
    "images": {"type": "array", "items": {"type": "string"},
               "description": "More input images (URLs or data: URLs)."},
}


# An input image in examples: the form most clients send (a data: URL works too).
EXAMPLE_IMAGE_URL = "https://example.com/photo.jpg"


def with_article(label: str) -> str:
    """'an image', 'a video', 'a 3D': the article goes by the sound of the first letter."""
    return f"{'an' if label[:1].lower() in 'aeio' else 'a'} {label}"


def example_value(name: str, prop: dict[str, Any], required: bool) -> tuple[bool, Any]:
    """(found, value) for one param, from its JSON schema alone: an `examples` entry, else
    a default worth showing, else the first allowed value; a required field with none of
    these gets a placeholder of its type. Params with nothing to show are left out."""
    if prop.get("examples"):
        return True, prop["examples"][0]
    if "example" in prop:
        return True, prop["example"]
    default = prop.get("default")
    if default not in (None, "", [], {}):
        return True, default
    for variant in [prop, *prop.get("anyOf", []), *prop.get("oneOf", [])]:
        if variant.get("enum"):
            return True, variant["enum"][0]
        if "const" in variant:
            return True, variant["const"]
    if not required:
        return False, None
    placeholders = {"string": f"your {prop.get('title', name).lower()}", "integer": 1,
                    "number": 1.0, "boolean": True, "array": [], "object": {}}
    return True, placeholders.get(prop.get("type", "string"), None)


def example_body(spec: ModelSpec) -> dict[str, Any]:
    """A submit body for this model that passes validation, built from its params' JSON
    schema (engines declare `examples`, defaults and enums; this module invents nothing
    model-specific)."""
    schema = spec.params_schema()
    required = set(schema.get("required", []))
    body: dict[str, Any] = {"model": spec.id}
    for name, prop in schema.get("properties", {}).items():
        # The prompt is what every model is about: shown even where it may be left out.
        found, value = example_value(name, prop, name in required or name == "prompt")
        if found:
            body[name] = value
    if spec.mode.needs_image:
        body["image"] = EXAMPLE_IMAGE_URL
    return body


def submit_examples(registry: Registry, kind: Kind) -> dict[str, Any]:
    """OpenAPI `examples` of a submit body, one per model: Swagger UI offers them in a list
    and fills "Try it out" with the one picked."""
    return {
        spec.id: {"summary": f"{spec.display_name} ({spec.mode.value})",
                  "description": spec.description, "value": example_body(spec)}
        for spec in registry.models(kind)
    }


def submit_schema(spec: ModelSpec) -> dict[str, Any]:
    schema = spec.params_schema()
    properties = {"model": {"type": "string", "const": spec.id}}
    properties.update(schema.get("properties", {}))
    properties.update(_IMAGE_FIELDS)
    properties.update(WEBHOOK_FIELDS)
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
        "examples": [example_body(spec)],
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
            "summary": f"Query {with_article(label)} generation task",
            "parameters": [{"name": "task_id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {
                "200": {"description": "Task status and (if available) outputs",
                        "content": {"application/json": {"schema": STATUS_SCHEMA}}},
                "404": {"description": "No such task for this key, or of another kind"},
            },
        }
    }
