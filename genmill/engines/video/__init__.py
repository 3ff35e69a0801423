"""Built-in video models: camera motion over a still, and narrated shorts from a script.

Only the params (pydantic) load at import; PyAV, espeak-ng and the renderers load when a
worker first builds an engine.
"""

from genmill.domain import Mode
from genmill.engines.base import Engine, ModelSpec
from genmill.engines.video import voices
from genmill.engines.video.params import KenBurnsParams, NarratedParams


def _kenburns() -> Engine:
    from genmill.engines.video.kenburns import KenBurnsEngine

    return KenBurnsEngine()


def _narrated() -> Engine:
    from genmill.engines.video.narrated import NarratedEngine

    return NarratedEngine()


MODELS: list[ModelSpec] = [
    ModelSpec(
        id="genmill/kenburns-i2v",
        mode=Mode.IMAGE_TO_VIDEO,
        params=KenBurnsParams,
        factory=_kenburns,
        name="Ken Burns image-to-video",
        description="The input image brought to life by a smooth camera move (zoom or pan, "
        "eased, sub-pixel) that keeps its centre of interest in frame: H.264 MP4 (with a "
        "quiet music bed when audio_enable) plus a poster frame. Nothing in the picture "
        "moves: the prompt only names the move, and a prompt naming none is refused. "
        "Example prompt: slow zoom into the castle. CPU only, no weights.",
        time_limit=600.0,
    ),
    ModelSpec(
        id="genmill/narrated-t2v",
        mode=Mode.TEXT_TO_VIDEO,
        params=NarratedParams,
        factory=_narrated,
        name="Narrated text-to-video",
        description="A faceless narrated short from a script: the prompt (or `script`) is "
        "read aloud word for word and burned in as captions; it is not a topic to write "
        "about. Offline speech (espeak-ng, "
        f"{len(voices.languages()) or 100}+ languages), timed captions (Chinese, Japanese "
        "and Korean included), an optional title card, the given images with camera moves "
        "or generated backdrops, crossfades. Outputs final-N.mp4, combined-N.mp4, "
        "subtitle.srt, subtitle.vtt and audio.m4a. Example prompt: The ocean covers most "
        "of our planet. Yet we have explored only a small part of its floor.",
        time_limit=3600.0,
    ),
]

__all__ = ["MODELS"]
