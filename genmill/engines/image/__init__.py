"""Built-in image models."""

from genmill.engines.base import ModelSpec

MODELS: list[ModelSpec] = []
