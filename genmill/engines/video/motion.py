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


# How each move can be named in a prompt, for error messages and docs.
PHRASES = ("zoom in", "zoom out", "pull back", "push in", "close-up", "pan left",
           "pan right", "tilt up", "tilt down")


def named(prompt: str) -> str | None:
    """The move the prompt's words name (the first one named), if any."""
    text = prompt.lower()
    found = [(m.start(), name) for name, pattern in _WORDS if (m := re.search(pattern, text))]
    return min(found)[1] if found else None


def choose(motion: str, prompt: str, seed: int, image_aspect: float, frame_aspect: float) -> str:
    """The move to make: the one asked for, one the prompt's words name, else by the image's
    shape (wide images pan sideways, tall ones vertically) and the seed."""
    if motion != "auto":
        return motion
    found = named(prompt)
    if found:
        return found
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


# A pan keeps the subject at least this share of the view away from the view's edges.
MARGIN = 0.15


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high) if low <= high else (low + high) / 2


def plan(motion: str, canvas: tuple[int, int], frame: tuple[int, int], zoom_max: float,
         seconds: float, seed: int, focus: tuple[float, float] | None = None) -> CameraPath:
    """The path of `motion` over a canvas prepared for `frame` at `canvas_zoom(...)`: its
    zoom-1 view is frame * canvas_zoom pixels and the canvas is at least that big in both
    directions.

    `focus` (canvas pixels; default the centre) is the subject: every view of the path
    holds it. Zooms start or end framed on it; pans travel past it, never away from it,
    so a photo cropped to a narrower frame (3:4 into 9:16) keeps its subject in frame.
    """
    cw, ch = canvas
    scale = canvas_zoom(motion, zoom_max)
    cover = (frame[0] * scale, frame[1] * scale)
    fx, fy = focus if focus is not None else (cw / 2, ch / 2)
    # On even pixels: a view offset by a fraction of a pixel across the move's direction
    # puts every row at the same sub-pixel phase again, and 8-bit rounding then wobbles.
    fx, fy = 2 * round(fx / 2), 2 * round(fy / 2)
    if motion in ("zoom-in", "zoom-out"):
        # Both ends are views centred on the subject as far as the canvas allows; the
        # widest view then holds it too, and so does every view between (the tight
        # view's centre is the subject, and the views shrink no faster than they move).
        wide = (_clamp(fx, cover[0] / 2, cw - cover[0] / 2),
                _clamp(fy, cover[1] / 2, ch - cover[1] / 2), 1.0)
        tw, th = cover[0] / zoom_max, cover[1] / zoom_max
        tight = (_clamp(fx, tw / 2, cw - tw / 2), _clamp(fy, th / 2, ch - th / 2), zoom_max)
        start, end = (wide, tight) if motion == "zoom-in" else (tight, wide)
        return CameraPath(canvas, cover, start, end)
    view_w, view_h = frame[0] * OVERSAMPLE, frame[1] * OVERSAMPLE
    horizontal = motion in ("pan-left", "pan-right")
    view = view_w if horizontal else view_h
    length = cw if horizontal else ch
    along = fx if horizontal else fy
    room = length - view
    # The view's centre may go where the view stays on the canvas and the subject stays
    # MARGIN inside the view; a subject near the photo's edge leaves a shorter pan.
    reach = view * (0.5 - MARGIN)
    first, last = max(view / 2, along - reach), min(length - view / 2, along + reach)
    if first > last:  # no such place: the view nearest the subject, held still
        first = last = _clamp(along, view / 2, length - view / 2)
    # At most a fifth of the view per second: wide panoramas glide rather than rush.
    travel = max(0.0, min(last - first, room, view * 0.2 * max(seconds, 1.0)))
    middle = _clamp(along, first + travel / 2, last - travel / 2)
    lo, hi = middle - travel / 2, middle + travel / 2
    if horizontal:
        cy = _clamp(fy, view_h / 2, ch - view_h / 2)
        # pan-left: the camera turns left, so the view travels from right to left.
        xs = (hi, lo) if motion == "pan-left" else (lo, hi)
        return CameraPath(canvas, cover, (xs[0], cy, zoom_max), (xs[1], cy, zoom_max))
    cx = _clamp(fx, view_w / 2, cw - view_w / 2)
    ys = (hi, lo) if motion == "pan-up" else (lo, hi)
    return CameraPath(canvas, cover, (cx, ys[0], zoom_max), (cx, ys[1], zoom_max))
