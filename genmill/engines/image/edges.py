"""Edge maps shared by the drawn styles (cartoon outlines, sketch strokes)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter


def dog_lines(gray: Image.Image, sigma: float, threshold: float) -> np.ndarray:
    """Ink lines from a difference of Gaussians: True on the dark side of edges.

    DoG responds to edges of any orientation at one scale (sigma) and, unlike a gradient
    magnitude, gives one line per edge rather than a double outline.
    """
    near = np.asarray(gray.filter(ImageFilter.GaussianBlur(sigma)), np.float32)
    far = np.asarray(gray.filter(ImageFilter.GaussianBlur(sigma * 1.6)), np.float32)
    return (near - far) < -threshold


def sobel_magnitude(gray: np.ndarray) -> np.ndarray:
    """Gradient magnitude of a float image (same shape, zero at the border)."""
    g = gray.astype(np.float32)
    out = np.zeros_like(g)
    gx = (g[1:-1, 2:] - g[1:-1, :-2]) * 2 + (g[:-2, 2:] - g[:-2, :-2]) + (g[2:, 2:] - g[2:, :-2])
    gy = (g[2:, 1:-1] - g[:-2, 1:-1]) * 2 + (g[2:, :-2] - g[:-2, :-2]) + (g[2:, 2:] - g[:-2, 2:])
    out[1:-1, 1:-1] = np.sqrt(gx * gx + gy * gy)
    return out
