"""Photo-like test inputs for the image models, made on the fly (no binary fixtures).

A sunset landscape: sky gradient, sun, layered hills with texture, a lake with a
reflection, trees and a house with lit windows. It has what the styles act on: smooth
gradients, hard edges, fine texture, saturated and dark areas.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def scene(width: int, height: int, seed: int = 7) -> Image.Image:
    rng = np.random.Generator(np.random.PCG64(seed))
    ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    xs = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    top, horizon = np.array([40, 60, 140], np.float32), np.array([255, 170, 90], np.float32)
    t = np.clip(ys / 0.62, 0, 1)[..., None]
    sky = top + (horizon - top) * t ** 1.3
    img = np.broadcast_to(sky, (height, width, 3)).copy()
    sun = np.exp(-((xs - 0.68) ** 2 + ((ys - 0.5) * height / width) ** 2) * 900)
    img += sun[..., None] * np.array([255, 230, 160], np.float32) * 0.9
    # hills: layered ridges, darker and greener towards the front
    for i, (base, colour) in enumerate(((0.52, (120, 90, 120)), (0.58, (70, 80, 70)),
                                        (0.66, (40, 70, 40)))):
        ridge = base + 0.05 * np.sin(xs * (5 + 3 * i) + i) + 0.02 * np.sin(xs * 23 + 2 * i)
        mask = (ys > ridge).astype(np.float32)
        img = img * (1 - mask[..., None]) + mask[..., None] * np.array(colour, np.float32)
    # the lake reflects the sky, with ripples
    lake = (ys > 0.78) & (xs > 0.1) & (xs < 0.9)
    ripple = 0.85 + 0.15 * np.sin(ys * 400 + np.sin(xs * 40) * 2)
    reflection = sky[::-1][: height][:, :1, :] * 0.8
    img = np.where(lake[..., None], reflection * ripple[..., None], img)
    img += rng.normal(0, 4, (height, width, 1)).astype(np.float32) * (ys > 0.55)[..., None]
    picture = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(picture)
    s = width / 100
    for k in range(7):  # pine trees
        x, y = (6 + k * 4.5) * s, height * (0.7 + 0.02 * math.sin(k))
        draw.polygon([(x, y - 14 * s), (x - 3.2 * s, y), (x + 3.2 * s, y)], fill=(20, 45, 30))
        draw.rectangle((x - 0.4 * s, y, x + 0.4 * s, y + 2 * s), fill=(60, 40, 25))
    hx, hy = 58 * s, height * 0.66  # a house with lit windows: hard, straight edges
    draw.rectangle((hx, hy, hx + 16 * s, hy + 10 * s), fill=(200, 190, 170))
    draw.polygon([(hx - 2 * s, hy), (hx + 8 * s, hy - 7 * s), (hx + 18 * s, hy)],
                 fill=(150, 40, 35))
    for wx in (2, 7, 12):
        draw.rectangle((hx + wx * s, hy + 2.5 * s, hx + (wx + 2.5) * s, hy + 5 * s),
                       fill=(255, 220, 120))
    draw.rectangle((hx + 6.5 * s, hy + 6 * s, hx + 9 * s, hy + 10 * s), fill=(90, 60, 40))
    return picture.filter(ImageFilter.GaussianBlur(0.6))


def sticker(width: int, height: int) -> Image.Image:
    """The scene cut to a rounded shape on a transparent background (RGBA)."""
    image = scene(width, height).convert("RGBA")
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).rounded_rectangle(
        (width * 0.1, height * 0.1, width * 0.9, height * 0.9), radius=min(width, height) * 0.2,
        fill=255)
    image.putalpha(mask)
    return image


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()
