"""Colour treatments: duotone and vintage."""

from __future__ import annotations

import random

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from genmill.engines.common.colors import (
    RGB,
    colour_words,
    luminance,
    oklch,
    parse_colour,
    rgb_to_oklch,
)

# Pairs that work as duotones (shadows, highlights), for when neither params nor prompt
# name colours.
_PAIRS: tuple[tuple[RGB, RGB], ...] = (
    ((23, 32, 86), (255, 122, 92)),    # navy / coral
    ((49, 18, 86), (255, 214, 64)),    # deep purple / yellow
    ((6, 54, 64), (255, 200, 160)),    # deep teal / peach
    ((12, 20, 40), (90, 220, 230)),    # ink / cyan
    ((86, 14, 48), (255, 160, 190)),   # wine / pink
    ((20, 60, 40), (220, 240, 150)),   # forest / lime
)


def duotone_colours(colors: list[str] | None, prompt: str, seed: int) -> tuple[RGB, RGB]:
    """(shadows, highlights): from params, else prompt colour words, else the seed."""
    if colors:
        picked = [parse_colour(c) for c in colors]
    else:
        picked = colour_words(prompt)[:2]
    if len(picked) >= 2:
        # params give the order; words in a prompt do not, so darker becomes shadows
        first, second = picked[0], picked[1]
        if not colors and luminance(first) > luminance(second):
            first, second = second, first
        return first, second
    if len(picked) == 1:
        lightness, chroma, hue = rgb_to_oklch(picked[0])
        if lightness > 0.6:  # a light colour: it lights the highlights over deep shadows
            return oklch(0.22, min(chroma, 0.08), hue), picked[0]
        return picked[0], oklch(0.96, 0.04, hue)
    return random.Random(f"duotone:{seed}").choice(_PAIRS)


def duotone(image: Image.Image, shadows: RGB, highlights: RGB) -> Image.Image:
    """Luminance mapped onto the line from `shadows` to `highlights`."""
    gray = ImageOps.autocontrast(image.convert("L"), cutoff=0.5)
    # A 256-entry lookup per channel: the map is exact and costs one pass.
    lut: list[int] = []
    for lo, hi in zip(shadows, highlights, strict=True):
        lut.extend(int(round(lo + (hi - lo) * v / 255)) for v in range(256))
    return Image.merge("RGB", (gray, gray, gray)).point(lut)


def vintage(image: Image.Image, seed: int) -> Image.Image:
    """Faded film: muted colour, lifted blacks, warm cast, soft focus, vignette, grain."""
    width, height = image.size
    rng = random.Random(f"vintage:{seed}")
    soft = image.filter(ImageFilter.GaussianBlur(max(0.6, max(width, height) / 1800)))
    rgb = np.asarray(soft, np.float32) / 255.0
    gray = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    rgb = gray[..., None] + (rgb - gray[..., None]) * 0.55  # muted colour
    rgb = rgb * rgb * (3 - 2 * rgb) * 0.35 + rgb * 0.65  # a soft S-curve
    # warm cast and faded (lifted) blacks, per channel: out = lift + gain * in
    lift = np.array([0.10, 0.075, 0.06], np.float32)
    gain = np.array([0.92, 0.88, 0.76], np.float32)
    rgb = lift + gain * rgb
    ys = (np.arange(height, dtype=np.float32)[:, None] + 0.5) / height - 0.5
    xs = (np.arange(width, dtype=np.float32)[None, :] + 0.5) / width - 0.5
    radial = np.clip((xs * xs + ys * ys) * 2.0, 0.0, 1.0)
    rgb *= (1 - 0.3 * radial ** 1.5)[..., None]
    # a faint warm light leak from one corner, as from an old camera back
    cx, cy = rng.choice(((-0.5, -0.5), (0.5, -0.5), (-0.5, 0.5), (0.5, 0.5)))
    leak = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) * 9.0) * rng.uniform(0.06, 0.12)
    rgb += leak[..., None] * np.array([1.0, 0.55, 0.25], np.float32)
    grain = np.random.Generator(np.random.PCG64(seed)).normal(0.0, 0.018, (height, width))
    rgb += grain.astype(np.float32)[..., None]
    return Image.fromarray(np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8), "RGB")
