"""The params of diffusers models, per mode, with each entry's defaults and limits.

`build_params` makes one pydantic class per models-file entry: the limits become the
fields' bounds (so they are published in `GET /v1/models` and a value past one is a 400
naming the field), and `[models.defaults]` become the fields' defaults. Sizes are
resolved at submit time, so the task records the width and height it will get.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from genmill.domain import Mode
from genmill.engines.image.sizing import TIERS, check_size, tier_size
from genmill.engines.params import BaseParams

AspectRatio = Literal["1:1", "16:9", "9:16", "4:3", "3:4", "21:9"]
MULTIPLE = 8  # latent diffusion works on 8x8 pixel blocks


class Limits(BaseModel):
    """`[models.limits]`: the most a request may ask of this entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    width: int = Field(2048, ge=64, le=16384)
    height: int = Field(2048, ge=64, le=16384)
    steps: int = Field(150, ge=1, le=10_000)
    frames: int = Field(256, ge=1, le=10_000)
    n: int = Field(4, ge=1, le=64)


def _down8(value: float) -> int:
    return max(MULTIPLE, int(value) // MULTIPLE * MULTIPLE)


class SizedParams(BaseParams):
    """Width and height from `width`/`height`, Siray's `size` ("WxH" or a tier) and
    `aspect_ratio`; explicit `width`/`height` win. Fields are validated in this order."""

    limits: ClassVar[Limits] = Limits()
    default_width: ClassVar[int] = 512
    default_height: ClassVar[int] = 512

    width: int | None = Field(None, ge=64, multiple_of=MULTIPLE, description="Pixels.")
    height: int | None = Field(None, ge=64, multiple_of=MULTIPLE, description="Pixels.")
    aspect_ratio: AspectRatio | None = Field(
        None, description="With a tier `size` or none: the shape of the output."
    )
    size: str | None = Field(
        None, description='"WIDTHxHEIGHT" (multiples of 8) or a tier: 1k, 2k, 4k.'
    )

    @field_validator("size")
    @classmethod
    def _check_size(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        value = check_size(value)
        width, height = cls._from_size(value, info.data.get("aspect_ratio"))
        if value not in TIERS and (width % MULTIPLE or height % MULTIPLE):
            raise ValueError(f"{value}: each side must be a multiple of {MULTIPLE}")
        width = info.data.get("width") or width
        height = info.data.get("height") or height
        if width > cls.limits.width or height > cls.limits.height:
            raise ValueError(f"{width}x{height} is over this model's limit "
                             f"{cls.limits.width}x{cls.limits.height}")
        return value

    @classmethod
    def _from_size(cls, size: str, aspect_ratio: str | None) -> tuple[int, int]:
        if size in TIERS:
            width, height = tier_size(TIERS[size], aspect_ratio)
            return _down8(width), _down8(height)
        width, height = size.split("x")
        return int(width), int(height)

    def default_size(self) -> tuple[int, int]:
        if self.size is not None:
            return self._from_size(self.size, self.aspect_ratio)
        if self.aspect_ratio is not None:
            width, height = tier_size(max(self.default_width, self.default_height),
                                      self.aspect_ratio)
            return _down8(min(width, self.limits.width)), _down8(min(height, self.limits.height))
        return self.default_width, self.default_height

    @model_validator(mode="after")
    def _resolve(self) -> SizedParams:
        if self.resolves_size():
            width, height = self.default_size()
            self.width = self.width or width
            self.height = self.height or height
        return self

    def resolves_size(self) -> bool:
        return True


class ImageParams(SizedParams):
    num_inference_steps: int = Field(30, ge=1, description="Denoising steps.")
    guidance_scale: float = Field(
        7.5, ge=0, le=50, validation_alias=AliasChoices("guidance_scale", "cfg_scale"),
        description="Classifier-free guidance (Siray's `cfg_scale` is accepted too).",
    )
    n: int = Field(1, ge=1, description="How many images.")
    output_format: Literal["png", "jpeg", "webp"] = "png"


class ImageToImageParams(ImageParams):
    strength: float = Field(
        0.6, gt=0, le=1, description="How far from the input image: 0 keeps it, 1 ignores it."
    )

    def resolves_size(self) -> bool:
        # With no size asked for, the output takes the input image's size (engine side).
        return any(v is not None for v in (self.width, self.height, self.size,
                                           self.aspect_ratio))


class VideoParams(SizedParams):
    default_frames: ClassVar[int] = 16
    num_inference_steps: int = Field(25, ge=1, description="Denoising steps.")
    guidance_scale: float = Field(
        7.5, ge=0, le=50, validation_alias=AliasChoices("guidance_scale", "cfg_scale"),
        description="Classifier-free guidance (Siray's `cfg_scale` is accepted too).",
    )
    fps: int = Field(8, ge=1, le=60, description="Frames per second of the MP4.")
    duration: float | None = Field(
        None, gt=0, le=600, description="Seconds; with `fps` gives the frame count."
    )
    num_frames: int | None = Field(None, ge=1, validate_default=True,
                                   description="Frames; wins over `duration`.")

    @field_validator("duration")
    @classmethod
    def _check_duration(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and "fps" in info.data:
            frames = round(value * info.data["fps"])
            if frames > cls.limits.frames:
                raise ValueError(f"{value:g} s at {info.data['fps']} fps is {frames} frames, "
                                 f"over this model's limit of {cls.limits.frames}")
        return value

    @field_validator("num_frames")
    @classmethod
    def _resolve_frames(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is None:
            duration, fps = info.data.get("duration"), info.data.get("fps")
            if duration is not None and fps is not None:
                value = max(1, round(duration * fps))
            else:
                value = cls.default_frames
        return value


class ImageToVideoParams(VideoParams):
    guidance_scale: float = Field(
        3.0, ge=0, le=50, validation_alias=AliasChoices("guidance_scale", "cfg_scale"),
        description="Largest guidance over the frames (Stable Video Diffusion ramps to it).",
    )
    motion_bucket_id: int = Field(127, ge=1, le=255, description="More motion when higher.")
    noise_aug_strength: float = Field(0.02, ge=0, le=1, description="Noise on the input.")

    def resolves_size(self) -> bool:
        # With no size asked for, the video takes the input image's size (engine side).
        return any(v is not None for v in (self.width, self.height, self.size,
                                           self.aspect_ratio))


class MeshParams(BaseParams):
    num_inference_steps: int = Field(64, ge=1, description="Denoising steps.")
    guidance_scale: float = Field(
        15.0, ge=0, le=100, validation_alias=AliasChoices("guidance_scale", "cfg_scale"),
        description="Classifier-free guidance.",
    )
    mesh_resolution: int = Field(
        128, ge=16, le=256, description="Marching-cubes grid per side: detail vs time."
    )


BY_MODE: dict[Mode, type[BaseParams]] = {
    Mode.TEXT_TO_IMAGE: ImageParams,
    Mode.IMAGE_TO_IMAGE: ImageToImageParams,
    Mode.TEXT_TO_VIDEO: VideoParams,
    Mode.IMAGE_TO_VIDEO: ImageToVideoParams,
    Mode.TEXT_TO_3D: MeshParams,
    Mode.IMAGE_TO_3D: MeshParams,
}

# Which fields each limit bounds.
_LIMITED = {"width": "width", "height": "height", "num_inference_steps": "steps",
            "num_frames": "frames", "n": "n"}


def build_params(class_name: str, mode: Mode, limits: Limits,
                 defaults: dict[str, Any]) -> type[BaseParams]:
    """The params class of one entry. Raises ValueError("defaults.<key>: ...")."""
    base = BY_MODE[mode]
    fields = base.model_fields
    for key in defaults:
        if key not in fields or key in ("size", "aspect_ratio"):
            raise ValueError(f"defaults.{key}: not a default a {mode.value} model takes "
                             f"(one of: {', '.join(sorted(set(fields) - {'size'}))})")
    overrides: dict[str, Any] = {}
    for name, info in fields.items():
        limit = _LIMITED.get(name)
        if name not in defaults and limit is None:
            continue
        extra: dict[str, Any] = {}
        if limit is not None:
            extra["le"] = getattr(limits, limit)
        default = defaults.get(name, info.default)
        if name in ("width", "height", "num_frames") and issubclass(base, SizedParams):
            default = None  # class attributes hold these defaults: resolved with the rest
        metadata = {k: v for k, v in (
            ("ge", _bound(info, "ge")), ("gt", _bound(info, "gt")),
            ("le", _bound(info, "le")), ("multiple_of", _bound(info, "multiple_of")),
        ) if v is not None}
        overrides[name] = (info.annotation, Field(
            default, description=info.description, validation_alias=info.validation_alias,
            validate_default=info.validate_default,
            **{**metadata, **extra},
        ))
    params = create_model(class_name, __base__=base, **overrides)
    if issubclass(params, SizedParams):
        params.limits = limits
        params.default_width = int(defaults.get("width", min(512, limits.width)))
        params.default_height = int(defaults.get("height", min(512, limits.height)))
    if issubclass(params, VideoParams):
        params.default_frames = int(defaults.get("num_frames", min(16, limits.frames)))
    try:
        params.model_validate(defaults)  # the defaults must pass as a request would
    except ValueError as exc:
        first = exc.errors()[0] if hasattr(exc, "errors") else None
        if first is None:
            raise ValueError(f"defaults: {exc}") from None
        key = ".".join(str(p) for p in first["loc"]) or "defaults"
        message = first["msg"].removeprefix("Value error, ")
        raise ValueError(f"defaults.{key}: {message}") from None
    return params


def _bound(info: Any, name: str) -> Any:
    for item in info.metadata:
        value = getattr(item, name, None)
        if value is not None:
            return value
    return None
