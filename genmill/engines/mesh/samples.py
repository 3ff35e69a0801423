"""Sample input images made in code (no files, no network): a photo-like landscape, line
art and a transparent logo. Used by the tests, the benchmark and the contact sheet."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def _noise(shape: tuple[int, int], rng: np.random.Generator, octaves: int = 5) -> np.ndarray:
    """Fractal value noise in 0..1."""
    h, w = shape
    out = np.zeros(shape)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        cells = 2 ** (o + 2)
        grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
        layer = Image.fromarray(grid, mode="F").resize((w, h), Image.Resampling.BICUBIC)
        out += amp * np.asarray(layer)
        total += amp
        amp *= 0.5
    return np.clip(out / total, 0, 1)


def photo(width: int = 800, height: int = 600, seed: int = 7) -> Image.Image:
    """Mountains under an evening sky with a sun and a lake: smooth gradients, texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    sky = np.stack([0.95 - 0.5 * yy, 0.7 - 0.35 * yy, 0.55 + 0.3 * yy], -1)
    sun = np.exp(-(((xx - 0.68) * 1.33) ** 2 + (yy - 0.32) ** 2) / 0.004)[..., None]
    img = sky * (1 - sun) + np.array([1.0, 0.93, 0.75]) * sun
    img += np.exp(-(((xx - 0.68) * 1.33) ** 2 + (yy - 0.32) ** 2) / 0.05)[..., None] * 0.25
    for layer, (base, tone) in enumerate([(0.45, 0.55), (0.55, 0.38), (0.66, 0.22)]):
        ridge = base + 0.16 * (_noise((1, width), rng, 6)[0] - 0.5) * (3 - layer)
        texture = _noise((height, width), rng, 6)
        land = yy > ridge[None, :]
        color = np.array([tone * 0.8, tone * 0.9, tone * 1.1]) * (0.8 + 0.4 * texture[..., None])
        img = np.where(land[..., None], color, img)
    lake = yy > 0.8
    mirror = img[np.clip((1.6 - yy) * height, 0, height - 1).astype(int), (xx * width).astype(int)]
    ripples = 0.85 + 0.15 * np.sin(yy * 400 + _noise((height, width), rng, 3) * 8)[..., None]
    img = np.where(lake[..., None], mirror * 0.7 * ripples + 0.05, img)
    pic = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
    return pic.filter(ImageFilter.GaussianBlur(0.8))


def line_art(width: int = 640, height: int = 640) -> Image.Image:
    """Black strokes on white: a house, a tree, a sun (thin features, hard edges)."""
    img = Image.new("L", (width, height), 255)
    d = ImageDraw.Draw(img)
    s = width / 640
    d.rectangle([140 * s, 300 * s, 400 * s, 520 * s], outline=0, width=int(10 * s))
    d.line([(120 * s, 310 * s), (270 * s, 170 * s), (420 * s, 310 * s)], fill=0, width=int(12 * s))
    d.rectangle([240 * s, 410 * s, 300 * s, 520 * s], outline=0, width=int(8 * s))
    d.rectangle([170 * s, 340 * s, 220 * s, 390 * s], outline=0, width=int(6 * s))
    d.ellipse([470 * s, 90 * s, 570 * s, 190 * s], outline=0, width=int(8 * s))
    d.line([(480 * s, 520 * s), (480 * s, 380 * s)], fill=0, width=int(12 * s))
    d.ellipse([420 * s, 260 * s, 540 * s, 400 * s], outline=0, width=int(8 * s))
    d.line([(60 * s, 525 * s), (600 * s, 525 * s)], fill=0, width=int(6 * s))
    return img


def logo(size: int = 512) -> Image.Image:
    """A transparent PNG: a coloured star badge on nothing."""
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    c = size / 2
    angles = np.arange(10) * np.pi / 5 - np.pi / 2
    radii = np.where(np.arange(10) % 2 == 0, size * 0.46, size * 0.2)
    star = [(c + r * np.cos(a), c + r * np.sin(a)) for r, a in zip(radii, angles, strict=True)]
    d.polygon(star, fill=(230, 80, 40, 255))
    d.ellipse([c - size * 0.11, c - size * 0.11, c + size * 0.11, c + size * 0.11],
              fill=(255, 220, 90, 255))
    return img


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return buf.getvalue()
