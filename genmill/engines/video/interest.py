"""Where the subject of a picture probably is: the point a camera move keeps in view.

No model: a saliency estimate that is cheap and good enough for framing. Each pixel of a
small copy scores by how much it stands out from its surroundings (colour and brightness
against a heavily blurred copy, plus edge strength), weighted towards the middle as
photographers compose; the point is the score-weighted centroid of the strongest part.
A picture with nothing standing out gives (about) its centre.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from genmill.engines.video.planes import Planes

SIDE = 128  # the estimate works on a copy this many pixels on its longer side
PRIOR = 0.45  # spread of the centre weighting, as a fraction of each side


def _small(plane: Image.Image, size: tuple[int, int], radius: float) -> tuple[np.ndarray,
                                                                             np.ndarray]:
    """The plane at `size`, and its blurred surround, as floats."""
    small = plane.resize(size, Image.BOX)
    surround = small.filter(ImageFilter.GaussianBlur(radius))
    return np.asarray(small, np.float32), np.asarray(surround, np.float32)


def centre_of_interest(canvas: Planes) -> tuple[float, float]:
    """(x, y) in canvas luma pixels of the likeliest subject."""
    width, height = canvas.size
    scale = SIDE / max(width, height)
    size = (max(8, round(width * scale)), max(8, round(height * scale)))
    radius = max(size) / 6
    channels = [_small(plane, size, radius) for plane in (canvas.y, canvas.u, canvas.v)]
    score = np.zeros((size[1], size[0]), np.float32)
    for weight, (values, surround) in zip((1.0, 1.5, 1.5), channels, strict=True):
        score += weight * np.abs(values - surround)
    gy, gx = np.gradient(channels[0][0])
    score += 0.5 * np.hypot(gx, gy)
    # Smoothed, so one object scores as one hill rather than as its outline.
    hill = Image.fromarray(np.clip(score * (255.0 / max(float(score.max()), 1e-6)), 0, 255)
                           .astype(np.uint8), "L").filter(ImageFilter.GaussianBlur(max(size) / 24))
    score = np.asarray(hill, np.float32)
    ys, xs = np.mgrid[0:size[1], 0:size[0]].astype(np.float32)
    fx, fy = (xs + 0.5) / size[0] - 0.5, (ys + 0.5) / size[1] - 0.5
    score *= np.exp(-(fx ** 2 + fy ** 2) / (2 * PRIOR ** 2))
    # Only the top of the highest hill votes: a busy background then cannot drag the
    # point away from one salient object. A flat picture leaves the centre prior in charge.
    top = np.clip(score - 0.6 * float(score.max()), 0.0, None)
    total = float(top.sum())
    if total <= 1e-6:
        return width / 2, height / 2
    cx = float((top * (xs + 0.5)).sum() / total) / scale
    cy = float((top * (ys + 0.5)).sum() / total) / scale
    return min(max(cx, 0.0), width), min(max(cy, 0.0), height)
