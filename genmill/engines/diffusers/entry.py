"""The keys of an `engine = "diffusers"` table in the models file."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator

from genmill.engines.diffusers.params import Limits
from genmill.engines.models_file.entry import EntryBase

_DEVICE = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")


class DiffusersEntry(EntryBase):
    engine: Literal["diffusers"]
    source: str = Field(min_length=1)
    allow_download: bool = False
    pipeline: str | None = None  # a diffusers class name, or "module:Class"
    dtype: Literal["float16", "bfloat16", "float32"] | None = None  # None: fp16 on GPU
    device: str = "auto"
    offload: Literal["none", "model", "sequential"] = "none"
    defaults: dict[str, Any] = {}
    limits: Limits = Limits()

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        if not _DEVICE.match(value):
            raise ValueError(f"unknown device {value!r}; one of: auto, cpu, cuda, cuda:N")
        return value

    @property
    def on_gpu(self) -> bool:
        """Whether this entry wants a GPU worker ("auto" does when one is there)."""
        return self.device != "cpu"

    @property
    def pool(self) -> str:
        """The workers that serve it: "cpu", "gpu" (any GPU) or "cuda:N" (GPU N only)."""
        if self.device.startswith("cuda:"):
            return self.device
        return "gpu" if self.on_gpu else "cpu"
