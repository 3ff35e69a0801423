"""Ken Burns camera paths: which move, how far, and the view box at each instant.

A path lives in the coordinates of a pre-scaled source canvas, sized so that the tightest
view is 1:1 with the output; every frame is then one resample of a small box (see
`Planes.resample`), never a resize of the full photo.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

MOTIONS = ("zoom-in", "zoom-out", "pan-left", "pan-right", "pan-up", "pan-down")
PAN_ZOOM = 1.15  # pans run slightly zoomed in, so even a same-aspect image has room to move
RAMP = 0.2  # fraction of the clip spent accelerating (and again decelerating)
# The tightest view still shrinks the canvas by this much. At exactly 1:1 every output pixel
# has the same sub-pixel phase, so 8-bit rounding errors line up and a slow pan wobbles by
# up to 0.09 px from frame to frame; 5% of resampling spreads the phases and the wobble
# drops under 0.02 px, at no visible cost in sharpness.
OVERSAMPLE = 1.05

_WORDS = [
    ("zoom-out", r"zoom(?:ing|s)? ?out|pull(?:ing|s)? (?:back|out)|dolly out|reveal|widen"),
    ("zoom-in", r"zoom(?:ing|s)? ?(?:in|into|on)\b|push(?:ing|es)? in|dolly in|close[- ]?up"
                r"|closer|move(?:s)? in\b"),
    ("pan-left", r"(?:pan|track|slide|move|drift)(?:ing|s)? (?:to the )?left|leftward"),
    ("pan-right", r"(?:pan|track|slide|move|drift)(?:ing|s)? (?:to the )?right|rightward"),
    ("pan-up", r"(?:pan|tilt|move|rise|rising|crane)(?:ing|s)? up\b|upward"),
    ("pan-down", r"(?:pan|tilt|move|crane)(?:ing|s)? down\b|downward|descend"),
]


def ease(t: float) -> float:
    """Progress 0..1 along the path at time fraction t: a cosine ramp up, a constant speed
    stretch, a cosine ramp down. The speed curve is continuous, so the camera never jerks,
    and the middle is exactly linear."""
    t = min(max(t, 0.0), 1.0)
    peak = 1.0 / (1.0 - RAMP)  # speed in the linear stretch; the ramps average half of it

    def ramp_distance(u: float) -> float:  # distance covered after u (0..1) of a ramp
        return peak * RAMP * (u - math.sin(math.pi * u) / math.pi) / 2.0

    if t < RAMP:
        return ramp_distance(t / RAMP)
    if t > 1.0 - RAMP:
        return 1.0 - ramp_distance((1.0 - t) / RAMP)
    return peak * RAMP / 2.0 + peak * (t - RAMP)


def choose(motion: str, prompt: str, seed: int, image_aspect: float, frame_aspect: float) -> str:
    """The move to make: the one asked for, one the prompt's words name, else by the image's
    shape (wide images pan sideways, tall ones vertically) and the seed."""
    if motion != "auto":
        return motion
    text = prompt.lower()
    found = [(m.start(), name) for name, pattern in _WORDS if (m := re.search(pattern, text))]
    if found:
        return min(found)[1]
    rng = random.Random(f"motion:{seed}")
    ratio = image_aspect / frame_aspect
    if ratio > 1.3:
        return rng.choice(["pan-left", "pan-right"])
    if ratio < 1 / 1.3:
        return rng.choice(["pan-up", "pan-down"])
    return rng.choice(["zoom-in", "zoom-in", "zoom-out", "pan-left", "pan-right"])


def zoom_amount(motion: str, seconds: float) -> float:
    """Largest zoom of the move: zooms go further in longer clips, within what stays sharp."""
    if motion.startswith("zoom"):
        return 1.0 + min(max(0.12 + 0.02 * seconds, 0.15), 0.35)
    return PAN_ZOOM


@dataclass(frozen=True)
class CameraPath:
    """View boxes over a canvas: centre and zoom interpolated by `ease`."""

    canvas: tuple[int, int]  # canvas size in pixels
    cover: tuple[float, float]  # view size at zoom 1 (zoom z shows cover / z)
    start: tuple[float, float, float]  # centre x, centre y, zoom
    end: tuple[float, float, float]

    def box(self, t: float) -> tuple[float, float, float, float]:
        s = ease(t)
        cx, cy, z = (a + (b - a) * s for a, b in zip(self.start, self.end, strict=True))
        w, h = self.cover[0] / z, self.cover[1] / z
        # Clamping only ever moves a box back inside; the planner keeps them inside already.
        x0 = min(max(cx - w / 2, 0.0), self.canvas[0] - w)
        y0 = min(max(cy - h / 2, 0.0), self.canvas[1] - h)
        return (x0, y0, x0 + w, y0 + h)


def canvas_zoom(motion: str, zoom_max: float) -> float:
    """The scale to prepare a canvas at (see `source.prepare`) for `motion` to `zoom_max`.

    Pans keep the OVERSAMPLE margin; a zoom's scale changes every frame anyway, so its
    phases never line up and its tightest view can be exactly 1:1.
    """
    return zoom_max if motion.startswith("zoom") else zoom_max * OVERSAMPLE


def plan(motion: str, canvas: tuple[int, int], frame: tuple[int, int], zoom_max: float,
         seconds: float, seed: int) -> CameraPath:
    """The path of `motion` over a canvas prepared for `frame` at `canvas_zoom(...)`: its
    zoom-1 view is frame * canvas_zoom pixels and the canvas is at least that big in both
    directions."""
    cw, ch = canvas
    scale = canvas_zoom(motion, zoom_max)
    cover = (frame[0] * scale, frame[1] * scale)
    rng = random.Random(f"path:{seed}")
    mid = (cw / 2, ch / 2)
    if motion in ("zoom-in", "zoom-out"):
        # Drift towards a point picked by the seed, so zooms do not all aim at the centre.
        spare_x = (cover[0] - cover[0] / zoom_max) / 2
        spare_y = (cover[1] - cover[1] / zoom_max) / 2
        focus = (mid[0] + rng.uniform(-0.6, 0.6) * spare_x,
                 mid[1] + rng.uniform(-0.6, 0.6) * spare_y)
        wide, tight = (mid[0], mid[1], 1.0), (focus[0], focus[1], zoom_max)
        start, end = (wide, tight) if motion == "zoom-in" else (tight, wide)
        return CameraPath(canvas, cover, start, end)
    view_w, view_h = frame[0] * OVERSAMPLE, frame[1] * OVERSAMPLE
    horizontal = motion in ("pan-left", "pan-right")
    view = view_w if horizontal else view_h
    room = (cw - view_w) if horizontal else (ch - view_h)
    # At most a fifth of the view per second: wide panoramas glide rather than rush.
    travel = min(room, view * 0.2 * max(seconds, 1.0))
    lo = (room - travel) / 2 + view / 2
    hi = lo + travel
    if horizontal:
        # pan-left: the camera turns left, so the view travels from right to left.
        xs = (hi, lo) if motion == "pan-left" else (lo, hi)
        return CameraPath(canvas, cover, (xs[0], mid[1], zoom_max), (xs[1], mid[1], zoom_max))
    ys = (hi, lo) if motion == "pan-up" else (lo, hi)
    return CameraPath(canvas, cover, (mid[0], ys[0], zoom_max), (mid[0], ys[1], zoom_max))
