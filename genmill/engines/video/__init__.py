"""Built-in video models."""

from genmill.engines.base import ModelSpec

MODELS: list[ModelSpec] = []
