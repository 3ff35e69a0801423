"""Image model figures, measured in one run (medians of repeated runs).

- title card 1024x1024: render time, against the floor of Pillow drawing one line of
  text on a blank 1024x1024 canvas; both with and without PNG encoding.
- each restyle style on a 2048x2048 photo-like input; upscale 2x against a plain Pillow
  LANCZOS resize of the same image (the target is within 3x).

Run: .venv/bin/python bench/image.py [--repeat N]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image, ImageDraw  # noqa: E402

from genmill.engines.common import fonts  # noqa: E402
from genmill.engines.common.title_card import render_title_card  # noqa: E402
from genmill.engines.image.cartoon import cartoon  # noqa: E402
from genmill.engines.image.pixel_art import pixel_art  # noqa: E402
from genmill.engines.image.sketch import pencil_sketch  # noqa: E402
from genmill.engines.image.tones import duotone, duotone_colours, vintage  # noqa: E402
from genmill.engines.image.upscale import upscale  # noqa: E402
from tests.image_helpers import scene  # noqa: E402


def median_time(fn, repeat: int) -> float:
    fn()  # warm: font loads, caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    repeat = parser.parse_args().repeat
    face = fonts.font(fonts.Face(fonts.display_path(), 760), 96)

    def floor() -> Image.Image:
        canvas = Image.new("RGB", (1024, 1024), (20, 24, 40))
        ImageDraw.Draw(canvas).text((512, 512), "Sunset Sessions", font=face,
                                    fill=(250, 250, 250), anchor="mm")
        return canvas

    def card() -> Image.Image:
        return render_title_card("Sunset Sessions", 1024, 1024, 7,
                                 subtitle="Live from the rooftop · Episode 12")

    print("title card 1024x1024")
    t_floor, t_card = median_time(floor, repeat), median_time(card, repeat)
    t_floor_png = median_time(lambda: png(floor()), repeat)
    t_card_png = median_time(lambda: png(card()), repeat)
    print(f"  floor (Pillow, one line on blank): {t_floor * 1000:8.1f} ms   "
          f"+PNG {t_floor_png * 1000:8.1f} ms")
    print(f"  title card:                        {t_card * 1000:8.1f} ms   "
          f"+PNG {t_card_png * 1000:8.1f} ms")
    print(f"  ratio card/floor: {t_card / t_floor:.1f}x render, "
          f"{t_card_png / t_floor_png:.1f}x with PNG encode")

    photo = scene(2048, 2048)
    colours = duotone_colours(None, "", 1)
    styles = {
        "upscale 2x": lambda: upscale(photo, 4096, 4096),
        "cartoon": lambda: cartoon(photo),
        "pencil-sketch": lambda: pencil_sketch(photo, 1),
        "duotone": lambda: duotone(photo, *colours),
        "pixel-art": lambda: pixel_art(photo),
        "vintage": lambda: vintage(photo, 1),
    }
    print("restyle on a 2048x2048 photo-like input (median, no encode)")
    results = {}
    for name, fn in styles.items():
        results[name] = median_time(fn, repeat)
        print(f"  {name:14s} {results[name] * 1000:8.1f} ms")
    # The ratio is taken pair by pair (LANCZOS then upscale, back to back), so load from
    # other work on a shared machine weighs on both sides alike.
    pairs = []
    for _ in range(repeat):
        plain = median_time(lambda: photo.resize((4096, 4096), Image.LANCZOS), 1)
        ours = median_time(styles["upscale 2x"], 1)
        pairs.append((plain, ours))
    lanczos = statistics.median(p for p, _ in pairs)
    ratio = statistics.median(o / p for p, o in pairs)
    print(f"  plain LANCZOS 2x {lanczos * 1000:6.1f} ms; upscale/LANCZOS = {ratio:.2f}x, "
          f"median of {repeat} back-to-back pairs "
          f"({'within' if ratio <= 3 else 'OVER'} the 3x target)")


if __name__ == "__main__":
    main()
