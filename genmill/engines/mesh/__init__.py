"""Built-in 3D models: lettering from a real font, and images as reliefs or lithophanes.

Light on purpose: listing models imports only the params; geometry, fonts and the renderer
load when an engine is first made.
"""

from genmill.domain import Mode
from genmill.engines.base import Engine, ModelSpec
from genmill.engines.mesh.params import ReliefParams, TextParams


def _text_engine() -> Engine:
    from genmill.engines.mesh.engine import TextEngine

    return TextEngine()


def _relief_engine() -> Engine:
    from genmill.engines.mesh.engine import ReliefEngine

    return ReliefEngine()


MODELS: list[ModelSpec] = [
    ModelSpec(
        id="genmill/text3d-text-to-3d",
        mode=Mode.TEXT_TO_3D,
        params=TextParams,
        factory=_text_engine,
        name="Text3D lettering",
        description="3D lettering: the prompt's words (or its quoted part, or `text`) "
        "extruded as letters from Noto Sans and Noto Sans CJK outlines (Chinese, Japanese, "
        "Korean too): holes, kerning, long text broken into lines, depth in proportion to "
        "the letters, optional rounded bevel; colour and finish from words around the quote "
        "(\"gold\", \"matte red\"). It makes lettering, not objects. Example prompt: a gold "
        "sign saying \"Open\".",
        time_limit=300.0,
    ),
    ModelSpec(
        id="genmill/relief-image-to-3d",
        mode=Mode.IMAGE_TO_3D,
        params=ReliefParams,
        factory=_relief_engine,
        name="Relief / lithophane",
        description="The input image as an embossed relief plaque (bright = high) or a "
        "lithophane (dark = thick), printable, with the picture as the GLB's texture. The "
        "prompt only names a material (gold, matte white, copper) and may say "
        "\"lithophane\"; a prompt naming neither is refused. Example prompt: matte white "
        "lithophane.",
        time_limit=600.0,
    ),
]
