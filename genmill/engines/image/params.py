"""The params of the built-in image models, validated at submit time.

Everything that can be refused without running is refused here, so a bad request is a
400 naming the field instead of a failed task.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from genmill.engines.common.colors import parse_colour
from genmill.engines.image import card_text, sizing, style_words
from genmill.engines.params import ImageParams

Background = Literal["auto", "mesh", "waves", "orbs", "halftone", "rays", "bands"]
Style = Literal["upscale", "cartoon", "pencil-sketch", "duotone", "pixel-art", "vintage"]


class _SizedParams(ImageParams):
    @field_validator("size")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        return sizing.check_size(value)


class TitleCardParams(_SizedParams):
    prompt: str = Field(
        ..., max_length=10_000,
        description='The text set on the card: the first line is the title, a second line '
                    'the subtitle. Or quote the text and describe the card around it (a '
                    'dark teal card that says "Welcome back"): colour and mood words (teal, '
                    'sunset, dark, pastel) then steer the palette. A quotation with an '
                    'attribution ("Knowledge is power." — Francis Bacon) keeps both. A '
                    'picture description ("a fox in the snow, oil painting") is refused: '
                    'this model sets text, it does not paint.',
        json_schema_extra={"examples": ["Sunset Sessions\nLive from the rooftop",
                                        'a dark teal card that says "Welcome back"',
                                        "“知识就是力量。”\n——中国谚语"]})
    subtitle: str = Field("", max_length=card_text.MAX_SUBTITLE,
                          description="Smaller text under the title.")
    align: Literal["center", "left"] = "center"
    background: Background = Field(
        "auto", description="Background design; auto picks by prompt words, then seed.")

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: str) -> str:
        return card_text.check_prompt(value)

    @field_validator("subtitle")
    @classmethod
    def _subtitle(cls, value: str) -> str:
        if value:
            from genmill.engines.common.title_card import drawable_error

            error = drawable_error("", card_text.clean(value))
            if error:
                raise ValueError(error)
        return value


class RestyleParams(_SizedParams):
    prompt: str = Field(
        "", max_length=10_000,
        description="Only names the style when `style` is not set (make it a pencil "
                    "sketch, cartoon, pixel art, vintage, duotone, upscale 4x) and duotone "
                    "colours (navy and coral); other words change nothing.",
        json_schema_extra={"examples": ["make it a pencil sketch", "a navy and coral duotone",
                                        "upscale 4x"]})
    style: Style | None = Field(
        None, validate_default=True,
        description="The transformation; when omitted, a style named in the prompt "
                    '("make it a pencil sketch").')
    strength: float = Field(1.0, ge=0.0, le=1.0,
                            description="1: the full style; lower blends with the original.")
    fit: Literal["crop", "pad", "stretch"] = Field(
        "crop", description="How the image meets a different size or aspect_ratio.")
    scale: Literal[2, 4] | None = Field(
        None, description='upscale factor; default 2, or "4x" in the prompt.')
    colors: list[str] | None = Field(
        None, min_length=2, max_length=2,
        description="duotone: [shadows, highlights] as #hex or names; default: colours "
                    "named in the prompt, else from the seed.")
    pixel_size: int | None = Field(
        None, ge=2, le=128, description="pixel-art: block size in pixels (default ~1/64 side).")

    @field_validator("style")
    @classmethod
    def _style(cls, value: str | None, info: ValidationInfo) -> str:
        if value is not None:
            return value
        found = style_words.style_in(info.data.get("prompt", "") or "")
        if found is None:
            raise ValueError(
                "no style given and the prompt names none; set style to one of: "
                + ", ".join(style_words.STYLES)
            )
        return found

    @field_validator("colors")
    @classmethod
    def _colors(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            for item in value:
                parse_colour(item)
        return value
