"""Pencil sketch: graphite lines and soft shading on paper.

Lines: the classic colour-dodge of a grey image by its blurred negative, which leaves
flat areas paper white and keeps edges and texture dark. Done on a median-filtered copy
and cleaned with a median after, so sensor noise and grain do not become salt-and-pepper
speckle (the dodge divides by the local brightness, which makes dark noise explode).
Shading: the dodge alone washes every lit or mid-tone area out to white, so the
picture's own tones come back as graphite shading, smoothed and laid in seeded, diagonal
hatch streaks, darker where the photo is darker. Toned from graphite grey to warm paper.
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
    side = max(width, height)
    gray = ImageOps.autocontrast(image.convert("L"), cutoff=1)
    # a median first: noise and grain would otherwise dodge into stipple
    clean = gray.filter(ImageFilter.MedianFilter(5 if side > 600 else 3))
    clean = clean.filter(ImageFilter.GaussianBlur(max(0.8, side / 1000)))
    g = np.asarray(clean, np.float32)
    radius = max(2.0, side / 160)
    blurred = np.asarray(ImageOps.invert(clean).filter(ImageFilter.GaussianBlur(radius)),
                         np.float32)
    dodge = np.clip(g * 255.0 / np.maximum(255.0 - blurred, 1.0), 0, 255)
    check()
    # darken the strokes a touch (a pencil line is darker than the dodge alone gives),
    # then a median removes the isolated dots the dodge still makes in dark flat areas
    lines = Image.fromarray((255.0 * (dodge / 255.0) ** 1.6).astype(np.uint8), "L")
    lines_a = np.asarray(lines.filter(ImageFilter.MedianFilter(3)), np.float32) / 255.0
    # shading from the picture's tones, smooth (no pixel noise): at most 40% graphite,
    # 45% in a hatch streak
    tones = np.asarray(clean.filter(ImageFilter.GaussianBlur(max(1.5, side / 300))),
                       np.float32) / 255.0
    shade = 0.4 * (1.0 - tones) ** 1.2
    hatch = _hatching(width, height, seed)
    shade = shade * (0.88 + 0.24 * hatch)
    tone = np.clip(lines_a * (1.0 - shade), 0.0, 1.0)[..., None]
    out = GRAPHITE + (PAPER - GRAPHITE) * tone
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "RGB")
