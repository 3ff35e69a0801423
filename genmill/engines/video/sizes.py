"""Frame sizes for the Siray `resolution` and `aspect_ratio` fields."""

from __future__ import annotations

SHORT_SIDE = {"480p": 480, "720p": 720, "1080p": 1080}


def frame_size(resolution: str, aspect_ratio: str) -> tuple[int, int]:
    """(width, height): the short side is the resolution's, the long side follows the aspect.

    Both are even, as yuv420p needs (chroma is subsampled 2x2).
    """
    short = SHORT_SIDE[resolution]
    a, b = (int(part) for part in aspect_ratio.split(":"))
    long = round(short * max(a, b) / min(a, b) / 2) * 2
    return (long, short) if a >= b else (short, long)
