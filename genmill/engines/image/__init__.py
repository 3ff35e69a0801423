"""Built-in image models: title cards (text-to-image) and restyling (image-to-image).

Only the params models are imported here: listing models must stay cheap, and the
engines (numpy, fonts) load when a worker first runs one.
"""

from genmill.domain import Mode
from genmill.engines.base import Engine, ModelSpec
from genmill.engines.image.params import RestyleParams, TitleCardParams


def _title_card() -> Engine:
    from genmill.engines.image.card_engine import TitleCardEngine

    return TitleCardEngine()


def _restyle() -> Engine:
    from genmill.engines.image.restyle import RestyleEngine

    return RestyleEngine()


MODELS: list[ModelSpec] = [
    ModelSpec(
        id="genmill/title-card-t2i",
        mode=Mode.TEXT_TO_IMAGE,
        params=TitleCardParams,
        factory=_title_card,
        name="Title card",
        description="Sets the prompt's TEXT on a designed card: the first line (or the "
                    "quoted part) is the title, a second line the subtitle, colour and mood "
                    "words around a quote steer the palette. It does not paint pictures. "
                    "Seeded gradients, shapes and patterns; balanced type in Noto Sans with "
                    "Noto Sans CJK (Latin, Greek, Cyrillic, Chinese, Japanese, Korean); AA "
                    "contrast. For video title cards, thumbnails, quote posts and slides. "
                    'Example prompt: a dark teal card that says "Welcome back".',
        time_limit=120.0,
    ),
    ModelSpec(
        id="genmill/restyle-i2i",
        mode=Mode.IMAGE_TO_IMAGE,
        params=RestyleParams,
        factory=_restyle,
        name="Restyle",
        description="Transforms the input image with one style: upscale (2x/4x), cartoon, "
                    "pencil-sketch, duotone, pixel-art or vintage; crop/pad/stretch to a "
                    "size; strength blends with the original. The prompt only names the "
                    "style (and duotone colours, the upscale factor); nothing is added to "
                    'the picture. Example prompt: "make it a pencil sketch".',
        time_limit=300.0,
    ),
]
