"""Request params of the video models (validated at submit time, so kept import-light)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from genmill.engines.params import VideoParams
from genmill.engines.video import motion, voices
from genmill.engines.video.captions import has_words

Motion = Literal["auto", "zoom-in", "zoom-out", "pan-left", "pan-right", "pan-up", "pan-down"]
MAX_SCRIPT = 4_000


class KenBurnsParams(VideoParams):
    prompt: str = Field(
        "", max_length=10_000,
        description="Only names the camera move (zoom in/out, pull back, push in, pan "
        "left/right, tilt up/down); nothing in the picture moves or changes. Empty: the "
        "move comes from `motion`, else the image's shape and the seed. A prompt that "
        "names no move is refused.",
        json_schema_extra={"examples": ["slow zoom into the castle", "pan left across the "
                                        "bay", "pull back to reveal the city"]},
    )
    motion: Motion = Field(
        "auto", validate_default=True,
        description="Camera move. auto: the one the prompt names ('slow zoom into the "
        "castle'), else from the image's shape and the seed. Every move keeps the "
        "picture's centre of interest in frame.",
    )
    audio_enable: bool = Field(
        True, description="true: a quiet generated music bed (a soft, seeded chord pad) as "
        "an AAC track; false: video only.")
    fit: Literal["cover", "fit"] = Field(
        "cover",
        description="cover: the image fills the frame (cropped); fit: all of it is shown "
        "on a blurred fill.",
    )


    @field_validator("motion")
    @classmethod
    def _prompt_names_a_move(cls, value: str, info: ValidationInfo) -> str:
        prompt = (info.data.get("prompt") or "").strip()
        if value == "auto" and prompt and motion.named(prompt) is None:
            raise ValueError(
                "the prompt names no camera move, and a move is all this model reads from "
                "it (it animates the photo with a camera move; nothing in the picture "
                "moves). Name one (" + ", ".join(motion.PHRASES) + "), set motion to one "
                "of " + ", ".join(motion.MOTIONS) + ", or send no prompt")
        return value


class NarratedParams(VideoParams):
    aspect_ratio: Literal["16:9", "9:16", "1:1", "4:3", "3:4"] = "9:16"
    duration: int | None = Field(  # type: ignore[assignment]
        None, ge=1, le=300,
        description="Target seconds. Unset: natural pacing. Set: the speaking rate adapts "
        "(0.85x-1.6x), then the pauses; a script too long for it gives a longer video.",
    )
    # Before `script`, so the script's check knows whether captions will be drawn.
    subtitle_enabled: bool = Field(True, description="Burn captions into final-N.mp4.")
    prompt: str = Field(
        "", max_length=10_000,
        description="The narration, read aloud word for word and shown as captions, when "
        "`script` is empty (it is not a topic: nothing is written for you).",
        json_schema_extra={"examples": [
            "The ocean covers most of our planet. Yet we have explored only a small part "
            "of its floor.", "人工智能正在改变我们的世界。每一天都有新的发现。"]},
    )
    script: str = Field(
        "", max_length=MAX_SCRIPT, validate_default=True,
        description="Narration text, split into sentences and captions. Empty: the prompt.",
    )
    title: str = Field(
        "", max_length=200,
        description="Set on a title card that opens the video for 2 seconds (also when "
        "you send images); Latin, Greek, Cyrillic, Chinese, Japanese and Korean.",
        json_schema_extra={"examples": ["A day in the mountains", "人工智能如何改变世界"]},
    )
    voice_name: str = Field(
        "auto",
        description="auto (language detected from the script), a locale with an optional "
        "gender (en-US-female, zh-CN-XiaoxiaoNeural-Female) or an espeak-ng language id "
        "with an optional variant (en-gb, cmn, fr+f2).",
        json_schema_extra={"examples": voices.EXAMPLES},
    )
    voice_rate: float = Field(1.0, ge=0.5, le=2.0, description="Speaking speed, 1 = normal.")
    voice_volume: float = Field(1.0, ge=0.0, le=5.0, description="Narration gain, 1 = normal.")
    subtitle_position: Literal["bottom", "center", "top"] = "bottom"
    font_size: int = Field(
        72, ge=12, le=200, description="Caption size in pixels of a 1080p frame (scaled)."
    )
    text_fore_color: str = Field("#FFFFFF", description="Caption colour (#RGB, #RRGGBB, name).")
    stroke_color: str = Field("#000000", description="Caption outline colour.")
    stroke_width: float = Field(
        3.0, ge=0.0, le=20.0, description="Caption outline in pixels of a 1080p frame."
    )
    clip_duration: float | None = Field(
        None, ge=1.0, le=60.0,
        description="Longest time one background stays on screen (seconds); unset: one per "
        "sentence.",
    )
    video_count: int = Field(1, ge=1, le=4, description="Variants, differing by seed.")
    bgm_volume: float = Field(
        0.0, ge=0.0, le=1.0,
        description="Level of a soft generated music bed under the narration; 0 = none.",
    )
    fit: Literal["cover", "fit"] = "cover"

    @field_validator("script")
    @classmethod
    def _script_has_words(cls, script: str, info: ValidationInfo) -> str:
        text = script or info.data.get("prompt", "")
        if not text.strip():
            raise ValueError("the script is empty: send the narration in `script` or `prompt`")
        if not has_words(text):
            raise ValueError("the script has no words to speak")
        if info.data.get("subtitle_enabled", True):
            from genmill.engines.common.fonts import SCRIPTS, describe
            from genmill.engines.video.caption_art import caption_stack

            missing = caption_stack().missing(text)
            if missing:
                raise ValueError(
                    f"the captions cannot draw {len(missing)} character(s) of the script: "
                    f"{describe(missing)}; the caption fonts cover {SCRIPTS} text (set "
                    "subtitle_enabled to false to narrate without captions)")
        return script

    @field_validator("title")
    @classmethod
    def _title_drawable(cls, title: str) -> str:
        if title.strip():
            from genmill.engines.common import fonts

            error = fonts.drawable_error(title, fonts.title_stack(), "the title")
            if error:
                raise ValueError(error)
        return title

    @field_validator("voice_name")
    @classmethod
    def _known_voice(cls, name: str) -> str:
        voices.parse(name)  # raises ValueError naming what is accepted
        return name

    @field_validator("text_fore_color", "stroke_color")
    @classmethod
    def _colour(cls, value: str) -> str:
        from PIL import ImageColor

        try:
            ImageColor.getrgb(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a colour (use #RRGGBB or a name)") from None
        return value

    @property
    def text(self) -> str:
        return self.script.strip() or self.prompt.strip()
