"""Params of the built-in 3D models: everything that can be refused at submit time is."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from genmill.engines.params import MeshParams

FACE_LIMIT_MIN = 1_000
FACE_LIMIT_MAX = 2_000_000
MAX_TEXT_CHARS = 400
MAX_LINES = 12
_HEX_COLOR = re.compile(r"^#?[0-9a-fA-F]{6}$")


def _check_face_limit(value: int) -> int:
    if not FACE_LIMIT_MIN <= value <= FACE_LIMIT_MAX:
        raise ValueError(
            f"face_limit must be between {FACE_LIMIT_MIN} and {FACE_LIMIT_MAX}, got {value}"
        )
    return value


_FACE_LIMIT = Field(
    100_000,
    description=f"Upper bound on triangles ({FACE_LIMIT_MIN}..{FACE_LIMIT_MAX}); "
    "the mesh is simplified or resampled to meet it.",
    json_schema_extra={"minimum": FACE_LIMIT_MIN, "maximum": FACE_LIMIT_MAX},
)


class _StyleParams(MeshParams):
    # face_limit is re-declared without ge/le so the error can say the whole range.
    face_limit: int = _FACE_LIMIT
    color: str | None = Field(
        None, description='Base colour: a name ("gold", "red") or "#RRGGBB"; else from prompt.'
    )
    metallic: float | None = Field(None, ge=0.0, le=1.0, description="0..1; else from prompt.")
    roughness: float | None = Field(None, ge=0.0, le=1.0, description="0..1; else from prompt.")

    @field_validator("face_limit")
    @classmethod
    def _face_limit_range(cls, value: int) -> int:
        return _check_face_limit(value)

    @field_validator("color")
    @classmethod
    def _known_color(cls, value: str | None) -> str | None:
        if value is None or _HEX_COLOR.match(value.strip()):
            return value
        from genmill.engines.mesh.materials import NAMED_COLORS

        if value.strip().lower() not in NAMED_COLORS:
            raise ValueError(
                f"color {value!r} is neither #RRGGBB nor a known name "
                f"(e.g. {', '.join(sorted(NAMED_COLORS)[:12])}, ...)"
            )
        return value


class TextParams(_StyleParams):
    """`genmill/text3d-text-to-3d`: lettering from a real font, extruded."""

    prompt: str = Field(
        "", max_length=10_000,
        description="The words to make into 3D letters, with colour and finish words "
        "around them when the words are quoted: 'a gold sign saying \"Open\"' makes the "
        "word Open in gold; unquoted, the whole prompt is the lettering. Long text is "
        "broken into lines. Latin, Greek, Cyrillic, Chinese, Japanese and Korean.",
        json_schema_extra={"examples": ['a gold sign saying "Open"', "Hello World",
                                        '"欢迎光临" in matte red']},
    )
    text: str | None = Field(
        None,
        max_length=MAX_TEXT_CHARS,
        description="The lettering (newlines for more lines; long lines are also broken "
        "so the object stays at most about 5:1). Unset: the quoted part of the prompt "
        '(\'a gold sign saying "Open"\'), else the whole prompt.',
    )
    font_weight: Literal["regular", "bold"] = "bold"
    align: Literal["left", "center", "right"] = "center"
    width_mm: float | None = Field(
        None, gt=0, le=2000,
        description="Overall width in mm (default: 120, or wider so letters are at least "
        "10 mm tall, if no height_mm).")
    height_mm: float | None = Field(
        None, gt=0, le=2000, description="Overall height in mm; with width_mm: fits inside both."
    )
    depth: float | None = Field(
        None, gt=0, le=500,
        description="Extrusion depth in mm (bevel included); default: a fifth of the letter "
        "height, so a long text is not a slab. A bevel is then capped at 45% of it.")
    bevel: float = Field(0.0, ge=0, le=50, description="Rounded front bevel in mm (0: none).")
    bevel_segments: int = Field(4, ge=1, le=12, description="Steps of the rounded bevel.")
    line_spacing: float = Field(1.0, ge=0.5, le=3.0, description="Times the font's line height.")

    @model_validator(mode="after")
    def _check(self) -> TextParams:
        if self.depth is not None and self.bevel >= self.depth:
            raise ValueError(f"bevel ({self.bevel} mm) must be less than depth ({self.depth} mm)")
        text = self.lettering()
        if not text.strip():
            raise ValueError(
                "text is empty: set `text`, or put the words in `prompt` (quoted to style them)"
            )
        if len(text) > MAX_TEXT_CHARS:
            raise ValueError(f"text is {len(text)} characters; the limit is {MAX_TEXT_CHARS}")
        if text.count("\n") + 1 > MAX_LINES:
            raise ValueError(f"text has more than {MAX_LINES} lines")
        from genmill.engines.mesh.glyphs import missing_glyphs

        missing = missing_glyphs(text, self.font_weight)
        if missing:
            shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in missing)
            raise ValueError(
                f"text has characters with no glyph in the fonts: {shown}; they cover "
                "Latin, Greek, Cyrillic, Chinese, Japanese and Korean")
        return self

    def lettering(self) -> str:
        """The text to set: `text`, else the prompt's quoted part, else the whole prompt."""
        from genmill.engines.mesh.materials import split_prompt

        if self.text is not None:
            text = self.text
        else:
            text = split_prompt(self.prompt)[0]
        return text.replace("\r\n", "\n").replace("\r", "\n").replace("\\n", "\n").strip("\n")

    def style_words(self) -> str:
        """Where colour and finish words are read from."""
        from genmill.engines.mesh.materials import split_prompt

        return self.prompt if self.text is not None else split_prompt(self.prompt)[1]


def _named_mode(prompt: str) -> str | None:
    words = prompt.lower()
    if "lithophane" in words:
        return "lithophane"
    return "relief" if re.search(r"\brelief\b", words) else None


class ReliefParams(_StyleParams):
    """`genmill/relief-image-to-3d`: an image as an embossed plaque or a lithophane."""

    prompt: str = Field(
        "", max_length=10_000,
        description="Only a material (colour and finish words: gold, matte white, copper, "
        "glossy red) and optionally the word lithophane (sets `mode` when it is not "
        "given); the shape comes from the image alone.",
        json_schema_extra={"examples": ["matte white lithophane", "polished copper",
                                        "gold"]},
    )
    mode: Literal["relief", "lithophane"] = Field(
        "relief", description="relief: bright is high; lithophane: dark is thick, to hold "
        "against the light.")
    width_mm: float = Field(100.0, ge=5, le=1000, description="Width (X) in mm.")
    min_thickness: float | None = Field(
        None, gt=0, le=100, description="Thinnest part in mm (relief 2.0, lithophane 0.8)."
    )
    max_thickness: float | None = Field(
        None, gt=0, le=200, description="Thickest part in mm (relief 5.0, lithophane 3.0)."
    )
    invert: bool = Field(False, description="Swap which tones are high and low.")
    border: float = Field(0.0, ge=0, le=100, description="Frame width in mm at full thickness.")

    @field_validator("prompt")
    @classmethod
    def _prompt_names_a_material(cls, prompt: str) -> str:
        from genmill.engines.mesh.materials import material_words

        if prompt.strip() and not material_words(prompt) and _named_mode(prompt) is None:
            raise ValueError(
                "names no material and no mode, and that is all this model reads from the "
                "prompt (the shape comes from the image). Name a colour or finish (gold, "
                "matte white, polished copper) or 'lithophane', or send no prompt")
        return prompt

    @model_validator(mode="after")
    def _check(self) -> ReliefParams:
        named_mode = _named_mode(self.prompt)
        if named_mode and "mode" not in self.model_fields_set:
            self.mode = named_mode  # type: ignore[assignment]
        low, high = self.thickness_range()
        if low >= high:
            raise ValueError(
                f"min_thickness ({low} mm) must be less than max_thickness ({high} mm)"
            )
        if self.border * 2 >= self.width_mm:
            raise ValueError(
                f"border ({self.border} mm) leaves no picture in width_mm ({self.width_mm} mm)"
            )
        return self

    def thickness_range(self) -> tuple[float, float]:
        low, high = (0.8, 3.0) if self.mode == "lithophane" else (2.0, 5.0)
        return (
            self.min_thickness if self.min_thickness is not None else low,
            self.max_thickness if self.max_thickness is not None else high,
        )
