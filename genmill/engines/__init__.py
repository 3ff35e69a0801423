"""Engines: the plug-in API, the registry, and the built-in models.

A plug-in needs this one import (see docs/plugins.md)::

    from genmill.engines import Engine, ModelSpec, Mode, RunContext, Inputs, InputError

and never imports `genmill.core`, the store or the API.
"""

from genmill.domain import Kind, Mode
from genmill.engines.base import (
    Canceled,
    Engine,
    InputError,
    InputFile,
    Inputs,
    ModelSpec,
    RunContext,
)
from genmill.engines.params import MAX_SEED, BaseParams, ImageParams, MeshParams, VideoParams

__all__ = [
    "MAX_SEED",
    "BaseParams",
    "Canceled",
    "Engine",
    "ImageParams",
    "InputError",
    "InputFile",
    "Inputs",
    "Kind",
    "MeshParams",
    "ModelSpec",
    "Mode",
    "RunContext",
    "VideoParams",
]
