"""Output sizes: the Siray `size` ("WIDTHxHEIGHT" or a 1k/2k/4k tier) and `aspect_ratio`.

Pure functions with no imaging imports, so the params models can use them at submit time.
"""

from __future__ import annotations

import re

MIN_SIDE = 64
MAX_SIDE = 4096
TIERS = {"1k": 1024, "2k": 2048, "4k": 4096}
ASPECTS = {"1:1": (1, 1), "16:9": (16, 9), "9:16": (9, 16), "4:3": (4, 3), "3:4": (3, 4),
           "21:9": (21, 9)}

_SIZE = re.compile(r"^\s*(\d{1,9})\s*[x×*]\s*(\d{1,9})\s*$", re.IGNORECASE)


def check_size(size: str | None) -> str | None:
    """Normalise `size` ("1024x768", "2K") or raise ValueError saying what is allowed."""
    if size is None:
        return None
    text = size.strip().lower()
    if text in TIERS:
        return text
    match = _SIZE.match(text)
    if not match:
        raise ValueError(
            f'size {size!r} is neither "WIDTHxHEIGHT" (e.g. "1024x768") nor a tier (1k, 2k, 4k)'
        )
    width, height = int(match[1]), int(match[2])
    for side in (width, height):
        if side > MAX_SIDE:
            raise ValueError(f"size {width}x{height} is too large: each side must be at most "
                             f"{MAX_SIDE} pixels (or use a tier: 1k, 2k, 4k)")
        if side < MIN_SIDE:
            raise ValueError(f"size {width}x{height} is too small: each side must be at least "
                             f"{MIN_SIDE} pixels")
    return f"{width}x{height}"


def _even(value: float) -> int:
    # Even sides keep the images usable as video frames (yuv420 needs them).
    return max(MIN_SIDE, min(MAX_SIDE, int(round(value / 2)) * 2))


def tier_size(long_side: int, aspect_ratio: str | None) -> tuple[int, int]:
    """A tier's long side with the aspect ratio (1:1 when none): 2k + 16:9 -> 2048x1152."""
    aw, ah = ASPECTS[aspect_ratio or "1:1"]
    if aw >= ah:
        return _even(long_side), _even(long_side * ah / aw)
    return _even(long_side * aw / ah), _even(long_side)


def resolve_size(size: str | None, aspect_ratio: str | None,
                 default_long_side: int = 1024) -> tuple[int, int]:
    """The output (width, height): an explicit WIDTHxHEIGHT wins; else tier or default."""
    size = check_size(size)
    if size is None:
        return tier_size(default_long_side, aspect_ratio)
    if size in TIERS:
        return tier_size(TIERS[size], aspect_ratio)
    width, height = size.split("x")
    return int(width), int(height)


def aspect_box(width: int, height: int, aspect_ratio: str, grow: bool) -> tuple[int, int]:
    """The box of `aspect_ratio` that fits inside (grow=False) or around (grow=True) WxH."""
    aw, ah = ASPECTS[aspect_ratio]
    if (width * ah > height * aw) == grow:  # input wider than the ratio, and growing? keep w
        return width, max(1, round(width * ah / aw))
    return max(1, round(height * aw / ah)), height
