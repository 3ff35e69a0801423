"""Regenerates docs/image-contact-sheet.png: title cards (Latin, Greek, Cyrillic, Chinese,
Japanese and Korean; quotations with attribution; long titles) and every restyle style.

Everything goes through the real engines (params validation, run, PNG on disk), so the
sheet shows what a client gets. Run: .venv/bin/python bench/contact_sheet_image.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image, ImageDraw  # noqa: E402

from genmill.engines.base import InputFile, Inputs, RunContext  # noqa: E402
from genmill.engines.common import fonts  # noqa: E402
from genmill.engines.image.card_engine import TitleCardEngine  # noqa: E402
from genmill.engines.image.params import RestyleParams, TitleCardParams  # noqa: E402
from genmill.engines.image.restyle import RestyleEngine  # noqa: E402
from tests.image_helpers import encode, scene  # noqa: E402

CARDS = [
    ({"prompt": "Sunset Sessions\nLive from the rooftop · Episode 12"}, 11),
    ({"prompt": "The Future of Remote Work", "subtitle": "What changes, what stays",
      "align": "left", "background": "orbs"}, 4),
    ({"prompt": 'a dark teal card that says "How I built a media server in a weekend"',
      "align": "left", "background": "waves"}, 8),
    ({"prompt": "Καλημέρα κόσμε\nПривет, мир · Hello, world", "background": "rays"}, 21),
    ({"prompt": "Design Systems 101\nA practical introduction", "align": "left",
      "background": "halftone"}, 30),
    ({"prompt": "Breaking News", "background": "bands"}, 5),
    ({"prompt": "人工智能如何改变世界\n从大脑到工厂 · 第三集"}, 12),
    ({"prompt": "“知识就是力量。”\n——中国谚语", "background": "waves"}, 6),
    ({"prompt": '"Knowledge is power."\n— Francis Bacon', "align": "left"}, 14),
    ({"prompt": "東京タワーへようこそ", "subtitle": "서울에서 온 여행자 · Travel notes",
      "background": "orbs"}, 17),
    ({"prompt": "The Future of Remote Work Starts Here: Tools, Teams and Trust",
      "background": "mesh"}, 9),
    ({"prompt": "AI 改变世界", "align": "left", "background": "rays"}, 23),
]
STYLES = [
    ("upscale 2x (shown at 1x)", {"style": "upscale"}),
    ("cartoon", {"style": "cartoon"}),
    ('"make it a pencil sketch"', {"prompt": "make it a pencil sketch"}),
    ('duotone "navy and coral"', {"style": "duotone", "prompt": "navy and coral"}),
    ("pixel-art", {"style": "pixel-art"}),
    ("vintage", {"style": "vintage"}),
    ("cartoon, strength 0.5", {"style": "cartoon", "strength": 0.5}),
]
GAP, LABEL = 16, 34
BG, INK = (24, 25, 30), (225, 226, 232)


def _run(engine, params, inputs: Inputs, seed: int) -> Image.Image:
    with tempfile.TemporaryDirectory() as tmp:
        ctx = RunContext("contact-sheet", seed, Path(tmp))
        (name,) = engine.run(params, inputs, ctx)
        with Image.open(Path(tmp) / name) as img:
            img.load()
            return img.convert("RGB")


def _grid(tiles: list[tuple[str, Image.Image]], columns: int) -> Image.Image:
    w, h = tiles[0][1].size
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * (w + GAP) + GAP, rows * (h + LABEL + GAP) + GAP), BG)
    draw = ImageDraw.Draw(sheet)
    label_stack = fonts.text_stack(500)
    for i, (label, tile) in enumerate(tiles):
        x = GAP + (i % columns) * (w + GAP)
        y = GAP + (i // columns) * (h + LABEL + GAP)
        sheet.paste(tile, (x, y))
        fonts.draw(draw, (x, y + h + 8), label, label_stack, 18, "la", fill=INK)
    return sheet


def main() -> None:
    cards = []
    for body, seed in CARDS:
        params = TitleCardParams(size="576x324", **body)
        label = f"seed {seed}" + (f", {body['background']}" if "background" in body else "")
        cards.append((label, _run(TitleCardEngine(), params, Inputs(), seed)))
    photo = scene(432, 288)
    inputs = Inputs({"image": [InputFile(encode(photo), "image/png", "data: URL")]})
    styled = [("input (photo-like test scene)", photo)]
    for label, body in STYLES:
        out = _run(RestyleEngine(), RestyleParams(**body), inputs, 3)
        styled.append((label, out.resize(photo.size, Image.LANCZOS)))
    top, bottom = _grid(cards, 3), _grid(styled, 4)
    sheet = Image.new("RGB", (max(top.width, bottom.width), top.height + bottom.height), BG)
    sheet.paste(top, ((sheet.width - top.width) // 2, 0))
    sheet.paste(bottom, ((sheet.width - bottom.width) // 2, top.height))
    out = ROOT / "docs" / "image-contact-sheet.png"
    sheet.save(out, optimize=True)
    print(f"wrote {out} ({sheet.width}x{sheet.height})")


if __name__ == "__main__":
    main()
