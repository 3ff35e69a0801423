"""Regenerates docs/mesh-contact-sheet.png: previews of the built-in 3D models.

Usage: python bench/contact_sheet_mesh.py [output.png]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from genmill.engines.base import InputFile, Inputs, RunContext
from genmill.engines.common import fonts
from genmill.engines.mesh import MODELS, samples

TILE = 512
CASES = [
    ("text3d", {"prompt": 'gold "genmill"', "bevel": 1.5}, None, 'gold "genmill", bevel 1.5'),
    ("text3d", {"text": "Hello,\nWorld!", "prompt": "matte red", "bevel": 1.0},
     None, "matte red, two lines"),
    ("text3d", {"text": "%&@", "prompt": "chrome", "bevel": 1.2}, None, "chrome %&@"),
    ("text3d", {"text": "ÄÖÜ ß", "color": "#2a6fdb", "roughness": 0.3,
                "font_weight": "regular"}, None, "blue glossy ÄÖÜ ß, regular"),
    ("text3d", {"prompt": '"欢迎光临" in matte red', "bevel": 1.0}, None,
     '"欢迎光临" in matte red'),
    ("text3d", {"text": "人工智能正在改变我们的世界", "prompt": "gold"}, None,
     "gold, long Chinese text: two lines"),
    ("text3d", {"prompt": "a cat astronaut floating above the moon, oil painting"}, None,
     "a long prompt: balanced lines, depth to match"),
    ("text3d", {"text": "東京タワー 서울", "prompt": "chrome"}, None, "chrome 東京タワー 서울"),
    ("relief", {"border": 3, "face_limit": 300000}, "photo", "relief, photo, frame"),
    ("relief", {"mode": "lithophane", "border": 3, "face_limit": 300000}, "photo",
     "lithophane, backlit"),
    ("relief", {"invert": True, "texture_enable": False, "face_limit": 200000}, "line",
     "relief, line art (inverted)"),
    ("relief", {"prompt": "satin", "border": 2, "face_limit": 100000}, "logo",
     "relief, transparent PNG, satin"),
]


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/mesh-contact-sheet.png")
    specs = {s.id.split("/")[1].split("-")[0]: s for s in MODELS}
    images = {"photo": samples.encode(samples.photo(1200, 900), "JPEG"),
              "line": samples.encode(samples.line_art()), "logo": samples.encode(samples.logo())}
    cols = 4
    sheet = Image.new("RGB", (cols * TILE, (len(CASES) + cols - 1) // cols * (TILE + 28)),
                      "white")
    draw = ImageDraw.Draw(sheet)
    stack = fonts.text_stack(400)
    for i, (model, params, image, label) in enumerate(CASES):
        spec = specs[model]
        inputs = Inputs({"image": [InputFile(images[image], "image/png", "sample")]}
                        if image else {})
        with tempfile.TemporaryDirectory() as tmp:
            spec.factory().run(spec.params.model_validate(params), inputs,
                               RunContext("sheet", 1, Path(tmp)))
            tile = Image.open(Path(tmp) / "preview.png").convert("RGB").resize(
                (TILE, TILE), Image.Resampling.LANCZOS)
        x, y = i % cols * TILE, i // cols * (TILE + 28)
        sheet.paste(tile, (x, y))
        fonts.draw(draw, (x + 8, y + TILE + 4), label, stack, 18, "la", fill=(40, 40, 40))
        print(label, flush=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(target, optimize=True)


if __name__ == "__main__":
    main()
