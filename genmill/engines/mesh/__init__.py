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
        description="3D lettering from Noto Sans outlines: holes, kerning, multi-line, "
        "optional rounded bevel; colour and finish from the prompt (\"gold\", \"matte red\").",
        time_limit=300.0,
    ),
    ModelSpec(
        id="genmill/relief-image-to-3d",
        mode=Mode.IMAGE_TO_3D,
        params=ReliefParams,
        factory=_relief_engine,
        name="Relief / lithophane",
        description="An image as an embossed relief plaque (bright = high) or a lithophane "
        "(dark = thick), printable, with the picture as the GLB's texture.",
        time_limit=600.0,
    ),
]
