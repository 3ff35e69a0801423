"""The restyle styles, and the prompt words that pick one ("make it a pencil sketch")."""

from __future__ import annotations

import re

STYLES = ("upscale", "cartoon", "pencil-sketch", "duotone", "pixel-art", "vintage")

# Phrases per style; the style whose phrase appears first in the prompt wins.
_PHRASES: dict[str, tuple[str, ...]] = {
    "upscale": ("upscale", "upscaled", "upscaling", "upsample", "enlarge", "super resolution",
                "super-resolution", "higher resolution", "high resolution", "hi-res",
                "increase resolution", "make it bigger"),
    "cartoon": ("cartoon", "toon", "comic", "cel shaded", "cel-shaded", "illustration",
                "animated", "anime"),
    "pencil-sketch": ("pencil", "sketch", "drawing", "graphite", "charcoal drawing",
                      "line art", "hand drawn", "hand-drawn"),
    "duotone": ("duotone", "duo-tone", "duo tone", "two-tone", "two tone", "two colour",
                "two color", "two-colour", "two-color"),
    "pixel-art": ("pixel", "pixels", "pixelated", "pixelate", "pixel art", "8-bit", "8 bit",
                  "16-bit", "retro game", "sprite"),
    "vintage": ("vintage", "retro photo", "old photo", "sepia", "film look", "analog",
                "analogue", "faded", "nostalgic", "1970s", "70s", "polaroid"),
}

_PATTERNS = {
    style: re.compile(r"(?<![\w-])(" + "|".join(re.escape(p) for p in phrases) + r")(?![\w-])")
    for style, phrases in _PHRASES.items()
}
_FACTOR = re.compile(r"(?<![\w.])([24])\s*(?:x|×|times)(?!\w)")


def style_in(prompt: str) -> str | None:
    """The style the prompt's words name first, or None."""
    text = prompt.lower()
    found = [(m.start(), style) for style, pattern in _PATTERNS.items()
             if (m := pattern.search(text))]
    return min(found)[1] if found else None


def scale_in(prompt: str) -> int | None:
    """An upscale factor written in the prompt: "4x", "2×", "4 times"."""
    match = _FACTOR.search(prompt.lower())
    return int(match[1]) if match else None
