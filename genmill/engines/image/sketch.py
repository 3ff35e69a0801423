"""Pencil sketch: graphite strokes on paper.

The classic colour-dodge of a grey image by its blurred negative: flat areas go to
paper white and only edges and texture stay dark, as in a drawing. A seeded, diagonal
hatch texture is laid into the darker areas so shading reads as strokes, and the result
is toned from graphite grey to a warm paper white.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter, ImageOps

PAPER = np.array((250, 247, 240), np.float32)
GRAPHITE = np.array((38, 38, 44), np.float32)


def _hatching(width: int, height: int, seed: int) -> np.ndarray:
    """Streaky noise at 30 degrees, 0..1: the grain of pencil strokes."""
    side = max(width, height)
    rng = np.random.Generator(np.random.PCG64(seed))
    noise = rng.random((max(8, side // 16), max(8, side // 2)), dtype=np.float32)
    streaks = Image.fromarray((noise * 255).astype(np.uint8), "L").resize(
        (side * 2, side * 2), Image.BILINEAR).rotate(30, Image.BILINEAR)
    left, top = (streaks.width - width) // 2, (streaks.height - height) // 2
    crop = streaks.crop((left, top, left + width, top + height))
    return np.asarray(crop, np.float32) / 255.0


def pencil_sketch(image: Image.Image, seed: int, check=lambda: None) -> Image.Image:
    width, height = image.size
    gray = ImageOps.autocontrast(image.convert("L"), cutoff=1)
    # a slight blur first: sensor noise would otherwise dodge into stipple
    gray = gray.filter(ImageFilter.GaussianBlur(max(0.7, max(width, height) / 1400)))
    g = np.asarray(gray, np.float32)
    radius = max(2.0, max(width, height) / 160)
    blurred = np.asarray(ImageOps.invert(gray).filter(ImageFilter.GaussianBlur(radius)),
                         np.float32)
    dodge = np.clip(g * 255.0 / np.maximum(255.0 - blurred, 1.0), 0, 255) / 255.0
    check()
    # darken the strokes a touch (a pencil line is darker than the dodge alone gives),
    # then let the hatch texture break up the shaded areas
    tone = dodge ** 1.6
    shade = 1.0 - tone
    tone = 1.0 - shade * (0.65 + 0.55 * _hatching(width, height, seed))
    tone = np.clip(tone, 0.0, 1.0)[..., None]
    out = GRAPHITE + (PAPER - GRAPHITE) * tone
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "RGB")
