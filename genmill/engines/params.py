"""Params every model of a kind accepts (the Siray body fields); models subclass these.

Unknown fields are refused (`extra="forbid"`) so a typo is a 400 naming the field, not a
silently ignored setting.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_SEED = 2**32 - 1


class BaseParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field("", max_length=10_000, description="What to generate.")
    negative_prompt: str = Field("", max_length=10_000, description="What to avoid.")
    seed: int = Field(
        -1, ge=-1, le=MAX_SEED, description="-1 picks one; the task records the seed used."
    )


class ImageParams(BaseParams):
    size: str | None = Field(
        None, description='"WIDTHxHEIGHT" (e.g. "1024x768") or a tier: 1k, 2k, 4k.'
    )
    aspect_ratio: Literal["1:1", "16:9", "9:16", "4:3", "3:4", "21:9"] | None = None
    n: int = Field(1, ge=1, le=4, description="How many images.")
    output_format: Literal["png", "jpeg", "webp"] = "png"


class VideoParams(BaseParams):
    duration: int = Field(5, ge=1, le=60, description="Seconds.")
    aspect_ratio: Literal["16:9", "9:16", "1:1", "4:3", "3:4"] = "16:9"
    resolution: Literal["480p", "720p", "1080p"] = "720p"
    fps: Literal[24, 25, 30, 60] = 24
    cfg_scale: float | None = Field(None, description="Accepted for compatibility.")
    audio_enable: bool = True


class MeshParams(BaseParams):
    texture_enable: bool = Field(True, description="Colour/texture material; false: plain grey.")
    pbr_enable: bool = Field(True, description="Metallic-roughness material; false: unlit.")
    face_limit: int = Field(
        100_000, ge=1_000, le=2_000_000, description="Upper bound on triangles."
    )
