"""Built-in mesh models."""

from genmill.engines.base import ModelSpec

MODELS: list[ModelSpec] = []
