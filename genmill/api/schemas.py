"""JSON schemas of model params, shared by `GET /v1/models` and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from genmill.core.task import Kind
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
