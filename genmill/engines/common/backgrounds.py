"""Title-card backgrounds: seeded gradients, soft shapes and patterns, drawn with numpy.

Smooth fields (gradients, glows) are computed at a reduced size and scaled up, which is
cheap and looks the same; shapes with edges are drawn at full size with a one-pixel
linear ramp at their edges, which antialiases them without supersampling. An ordered
dither breaks up the 8-bit banding that wide, soft gradients otherwise show.
"""

from __future__ import annotations

import math
import random

import numpy as np
from PIL import Image

from genmill.engines.common.colors import RGB, mix, words
from genmill.engines.common.palette import Palette

KINDS = ("mesh", "waves", "orbs", "halftone", "rays", "bands")

_KIND_WORDS = {
    "mesh": "mesh", "gradient": "mesh", "aurora": "mesh", "glow": "mesh",
    "wave": "waves", "waves": "waves", "mountains": "waves", "hills": "waves",
    "landscape": "waves", "ocean": "waves", "sea": "waves",
    "orb": "orbs", "orbs": "orbs", "circles": "orbs", "bubbles": "orbs", "bokeh": "orbs",
    "dots": "halftone", "halftone": "halftone", "dotted": "halftone", "comic": "halftone",
    "rays": "rays", "sunburst": "rays", "burst": "rays", "retro": "rays",
    "stripes": "bands", "bands": "bands", "diagonal": "bands", "sport": "bands",
    "sports": "bands", "geometric": "bands",
}

_FIELD_SIDE = 320  # long side of the grid smooth fields are computed on


def kind_for(seed: int, hint_text: str = "", avoid: str = "") -> str:
    """The background kind a prompt word asks for, else one picked by the seed (never one
    that `avoid`, the negative prompt, names)."""
    for word in words(hint_text):
        if word in _KIND_WORDS:
            return _KIND_WORDS[word]
    avoided = {_KIND_WORDS[w] for w in words(avoid) if w in _KIND_WORDS}
    choices = [k for k in KINDS if k not in avoided] or list(KINDS)
    return random.Random(f"kind:{seed}").choice(choices)


def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Pixel-centre coordinates (column and row vectors) in units of the long side."""
    unit = float(max(width, height))
    xs = (np.arange(width, dtype=np.float32) + 0.5)[None, :] / unit
    ys = (np.arange(height, dtype=np.float32) + 0.5)[:, None] / unit
    return xs, ys, unit


def _paint(canvas: np.ndarray, mask: np.ndarray, colour: RGB, alpha: float = 1.0) -> None:
    """Blend `colour` into `canvas` where `mask` (0..1, broadcastable) says, in place."""
    weight = (mask * alpha)[..., None]
    canvas += (np.asarray(colour, dtype=np.float32) - canvas) * weight


def _smooth_layer(width: int, height: int, palette: Palette, rng: random.Random,
                  blobs: int) -> np.ndarray:
    """A linear gradient with soft glows, computed small and scaled up to WxH."""
    scale = _FIELD_SIDE / max(width, height)
    fw, fh = max(2, round(width * scale)), max(2, round(height * scale))
    xs, ys, _ = _grid(fw, fh)
    angle = rng.uniform(0, 2 * math.pi)
    ax, ay = math.cos(angle), math.sin(angle)
    proj = xs * ax + ys * ay
    t = (proj - proj.min()) / max(float(proj.max() - proj.min()), 1e-6)
    t = t * t * (3 - 2 * t)  # smoothstep: no hard start or end to the ramp
    first, second = np.asarray(palette.stops[0], np.float32), np.asarray(palette.stops[1],
                                                                            np.float32)
    field = first + (second - first) * t[..., None]
    colours = [palette.stops[2], *palette.accents[:2], palette.stops[1]]
    for i in range(blobs):
        cx = rng.uniform(-0.1, 1.1) * fw / max(fw, fh)
        cy = rng.uniform(-0.1, 1.1) * fh / max(fw, fh)
        radius = rng.uniform(0.22, 0.55)
        glow = np.exp(-(((xs - cx) ** 2 + (ys - cy) ** 2) / (radius * radius)) * 2.2)
        colour = mix(colours[i % len(colours)], palette.stops[0], rng.uniform(0.2, 0.5))
        _paint(field, glow, colour, rng.uniform(0.55, 0.9))
    channels = [
        np.asarray(Image.fromarray(field[..., c], "F").resize((width, height), Image.BICUBIC))
        for c in range(3)
    ]
    return np.stack(channels, axis=-1)


def _waves(canvas: np.ndarray, palette: Palette, rng: random.Random) -> None:
    height, width = canvas.shape[:2]
    xs, ys, unit = _grid(width, height)
    layers = rng.randint(3, 5)
    flip = rng.random() < 0.25  # now and then the waves hang from the top
    rows = ys[::-1] if flip else ys
    span = height / unit
    for i in range(layers):
        base = span * (0.56 + 0.34 * i / layers) + rng.uniform(-0.03, 0.03)
        curve = base + sum(
            rng.uniform(0.012, 0.05) * np.sin(2 * math.pi * rng.uniform(0.4, 2.2) * xs
                                              + rng.uniform(0, 2 * math.pi))
            for _ in range(2)
        )
        mask = np.clip((rows - curve) * unit + 0.5, 0.0, 1.0)
        depth = (i + 1) / layers
        colour = mix(palette.accents[i % 2], palette.stops[0], 0.25 + 0.6 * depth)
        _paint(canvas, mask, colour, 0.92)


def _orbs(canvas: np.ndarray, palette: Palette, rng: random.Random) -> None:
    height, width = canvas.shape[:2]
    _, _, unit = _grid(width, height)
    for i in range(rng.randint(3, 5)):
        radius = rng.uniform(0.12, 0.34) * unit
        cx = rng.choice((rng.uniform(-0.1, 0.3), rng.uniform(0.7, 1.1))) * width
        cy = rng.uniform(-0.1, 1.1) * height
        ring = i % 3 == 2
        x0, x1 = max(0, int(cx - radius - 2)), min(width, int(cx + radius + 2))
        y0, y1 = max(0, int(cy - radius - 2)), min(height, int(cy + radius + 2))
        if x0 >= x1 or y0 >= y1:
            continue
        xs = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5
        ys = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5
        dist = np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2)
        if ring:
            stroke = max(2.0, radius * 0.05)
            mask = np.clip(stroke / 2 - np.abs(dist - radius * 0.85) + 0.5, 0.0, 1.0)
            alpha = 0.55
        else:
            # a soft inner shade gives the disc some volume
            mask = np.clip(radius - dist + 0.5, 0.0, 1.0) * (1 - 0.35 * (dist / radius) ** 2)
            alpha = rng.uniform(0.35, 0.7)
        _paint(canvas[y0:y1, x0:x1], mask, palette.accents[i % 3], alpha)


def _halftone(canvas: np.ndarray, palette: Palette, rng: random.Random) -> None:
    height, width = canvas.shape[:2]
    unit = float(max(width, height))
    pitch = unit / rng.choice((28, 34, 40))
    corner_x, corner_y = rng.choice(((0, 0), (1, 1), (1, 0), (0, 1)))
    xs = np.arange(width, dtype=np.float32)[None, :] + 0.5
    ys = np.arange(height, dtype=np.float32)[:, None] + 0.5
    cell_x = (np.floor(xs / pitch) + 0.5) * pitch
    cell_y = (np.floor(ys / pitch) + 0.5) * pitch
    # Dots grow towards one corner: a ramp on the distance from it, per cell.
    ramp = 1 - np.sqrt(((cell_x / width - corner_x) ** 2 + (cell_y / height - corner_y) ** 2)
                       / 1.3)
    radius = np.clip(ramp, 0.0, 1.0) ** 1.5 * pitch * 0.46
    dist = np.sqrt((xs - cell_x) ** 2 + (ys - cell_y) ** 2)
    mask = np.clip(radius - dist + 0.5, 0.0, 1.0)
    _paint(canvas, mask, palette.accents[0], 0.5)


def _rays(canvas: np.ndarray, palette: Palette, rng: random.Random) -> None:
    height, width = canvas.shape[:2]
    cx = rng.choice((0.5, rng.uniform(0.0, 1.0))) * width
    cy = rng.choice((1.15, -0.15, rng.uniform(0.3, 0.7))) * height
    xs = np.arange(width, dtype=np.float32)[None, :] + 0.5 - cx
    ys = np.arange(height, dtype=np.float32)[:, None] + 0.5 - cy
    count = rng.choice((10, 12, 16, 20))
    angle = np.arctan2(ys, xs) + rng.uniform(0, math.pi)
    radius = np.sqrt(xs * xs + ys * ys)
    # sin(count*angle) crosses zero at ray edges; times r/count it is the pixel distance.
    mask = np.clip(0.5 + np.sin(count * angle) * radius / count, 0.0, 1.0)
    fade = np.clip(radius / max(width, height), 0.0, 1.0)
    _paint(canvas, mask * (0.35 + 0.65 * fade), palette.accents[0], 0.14)


def _bands(canvas: np.ndarray, palette: Palette, rng: random.Random) -> None:
    height, width = canvas.shape[:2]
    unit = float(max(width, height))
    xs = np.arange(width, dtype=np.float32)[None, :] + 0.5
    ys = np.arange(height, dtype=np.float32)[:, None] + 0.5
    angle = math.radians(rng.choice((-1, 1)) * rng.uniform(20, 35))
    nx, ny = math.sin(angle), -math.cos(angle)
    dist = xs * nx + ys * ny
    low, high = float(dist.min()), float(dist.max())
    direction = rng.choice((1, -1))  # bands from one corner or the opposite one
    start = (low if direction == 1 else high) + direction * unit * rng.uniform(0.05, 0.2)
    offset = 0.0
    for i in range(rng.randint(2, 3)):
        thickness = unit * rng.uniform(0.04, 0.12) / (i + 1)
        near = start + direction * offset
        far = near + direction * thickness
        lo, hi = min(near, far), max(near, far)
        mask = np.clip(np.minimum(dist - lo, hi - dist) + 0.5, 0.0, 1.0)
        _paint(canvas, mask, palette.accents[i % 3], 0.9 - 0.2 * i)
        offset += thickness + unit * rng.uniform(0.015, 0.04)


_DRAW = {"waves": _waves, "orbs": _orbs, "halftone": _halftone, "rays": _rays,
         "bands": _bands}


def _vignette(canvas: np.ndarray, strength: float) -> None:
    height, width = canvas.shape[:2]
    xs = (np.arange(width, dtype=np.float32)[None, :] + 0.5) / width - 0.5
    ys = (np.arange(height, dtype=np.float32)[:, None] + 0.5) / height - 0.5
    canvas *= (1 - strength * np.clip((xs * xs + ys * ys) * 2.0, 0.0, 1.0) ** 1.5)[..., None]


_BAYER = (np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]],
                   np.float32) - 7.5) / 16


def dither(height: int, width: int) -> np.ndarray:
    """A 4x4 ordered-dither offset (within half a level) added before rounding to 8 bits.

    It breaks up the banding of wide, soft gradients like random grain would, but its
    pattern repeats every 4 pixels, so PNG still compresses it (noise triples the file)."""
    return np.tile(_BAYER, (height // 4 + 1, width // 4 + 1))[:height, :width, None]


def render_background_array(width: int, height: int, seed: int, palette: Palette,
                            kind: str) -> np.ndarray:
    """The background as float32 RGB (H, W, 3), 0..255, before dithering."""
    rng = random.Random(f"background:{seed}:{kind}")
    canvas = _smooth_layer(width, height, palette, rng, blobs=4 if kind == "mesh" else 2)
    if kind in _DRAW:
        _DRAW[kind](canvas, palette, rng)
    _vignette(canvas, 0.05 if palette.tone == "light" else 0.22)
    return canvas


def to_image(canvas: np.ndarray) -> Image.Image:
    """Float canvas -> 8-bit RGB image, dithered."""
    height, width = canvas.shape[:2]
    dithered = canvas + dither(height, width)
    return Image.fromarray(np.clip(dithered + 0.5, 0, 255).astype(np.uint8), "RGB")
