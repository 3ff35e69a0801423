"""Colour maths (OKLCH, WCAG contrast) and the colour words a prompt may use.

OKLCH is used to make palettes because equal steps in it look equal, so a palette made of
lightness and chroma targets looks balanced whatever its hue. Pure Python, no imports
beyond the standard library, so params validation can use it at submit time.
"""

from __future__ import annotations

import math
import re

RGB = tuple[int, int, int]

# Common colour words people write in prompts, with the colour they mean.
NAMED: dict[str, RGB] = {
    "red": (214, 40, 57), "crimson": (175, 18, 48), "maroon": (110, 20, 38),
    "orange": (247, 127, 0), "amber": (255, 179, 0), "yellow": (252, 211, 45),
    "gold": (212, 160, 23), "golden": (212, 160, 23), "lime": (163, 210, 60),
    "green": (46, 160, 90), "emerald": (16, 140, 100), "olive": (118, 128, 50),
    "mint": (152, 230, 190), "teal": (0, 128, 128), "turquoise": (40, 200, 190),
    "cyan": (0, 190, 220), "aqua": (0, 200, 210), "sky": (120, 190, 240),
    "blue": (35, 99, 220), "navy": (16, 32, 84), "cobalt": (0, 71, 171),
    "indigo": (63, 40, 150), "violet": (130, 70, 200), "purple": (110, 50, 160),
    "lavender": (190, 170, 235), "magenta": (210, 30, 150), "pink": (240, 110, 170),
    "rose": (225, 70, 110), "coral": (255, 110, 90), "peach": (255, 190, 150),
    "salmon": (250, 128, 114), "brown": (120, 72, 40), "chocolate": (90, 50, 30),
    "beige": (225, 210, 180), "cream": (250, 240, 215), "ivory": (255, 250, 235),
    "tan": (200, 165, 120), "sand": (220, 195, 150),
    "black": (12, 12, 14), "white": (250, 250, 250), "gray": (128, 128, 132),
    "grey": (128, 128, 132), "silver": (190, 192, 198), "charcoal": (50, 52, 58),
}

_WORD = re.compile(r"[a-z]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def colour_words(text: str) -> list[RGB]:
    """The colours named in `text`, in the order they appear."""
    return [NAMED[w] for w in words(text) if w in NAMED]


def parse_colour(value: str) -> RGB:
    """'#1a2b3c', '#abc', 'rgb(1,2,3)' or a colour name -> RGB; ValueError otherwise."""
    text = value.strip().lower()
    if text in NAMED:
        return NAMED[text]
    from PIL import ImageColor  # CSS names and functional forms; imported only when needed

    try:
        rgb = ImageColor.getrgb(text)
    except ValueError:
        raise ValueError(
            f"colour {value!r} is not a hex colour (#RRGGBB), rgb(r, g, b) or a colour name"
        ) from None
    return rgb[0], rgb[1], rgb[2]


# --- sRGB <-> OKLab / OKLCH -------------------------------------------------------------

def _to_linear(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def _to_srgb(c: float) -> float:
    return 12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055


def rgb_to_oklch(rgb: RGB) -> tuple[float, float, float]:
    r, g, b = (_to_linear(v / 255) for v in rgb)
    lc = (0.4122214708 * r + 0.5363325363 * g + 0.0514459929 * b) ** (1 / 3)
    mc = (0.2119034982 * r + 0.6806995451 * g + 0.1073969566 * b) ** (1 / 3)
    sc = (0.0883024619 * r + 0.2817188376 * g + 0.6299787005 * b) ** (1 / 3)
    lum = 0.2104542553 * lc + 0.7936177850 * mc - 0.0040720468 * sc
    a = 1.9779984951 * lc - 2.4285922050 * mc + 0.4505937099 * sc
    bb = 0.0259040371 * lc + 0.7827717662 * mc - 0.8086757660 * sc
    return lum, math.hypot(a, bb), math.degrees(math.atan2(bb, a)) % 360


def _oklab_to_linear(lum: float, a: float, b: float) -> tuple[float, float, float]:
    lc = (lum + 0.3963377774 * a + 0.2158037573 * b) ** 3
    mc = (lum - 0.1055613458 * a - 0.0638541728 * b) ** 3
    sc = (lum - 0.0894841775 * a - 1.2914855480 * b) ** 3
    return (
        4.0767416621 * lc - 3.3077115913 * mc + 0.2309699292 * sc,
        -1.2684380046 * lc + 2.6097574011 * mc - 0.3413193965 * sc,
        -0.0041960863 * lc - 0.7034186147 * mc + 1.7076147010 * sc,
    )


def oklch(lightness: float, chroma: float, hue: float) -> RGB:
    """OKLCH -> sRGB, lowering chroma until the colour is inside the sRGB gamut."""
    lightness = min(max(lightness, 0.0), 1.0)
    h = math.radians(hue)
    for _ in range(24):
        lin = _oklab_to_linear(lightness, chroma * math.cos(h), chroma * math.sin(h))
        if all(-1e-4 <= v <= 1 + 1e-4 for v in lin):
            break
        chroma *= 0.85
    return tuple(  # type: ignore[return-value]
        int(round(min(max(_to_srgb(min(max(v, 0.0), 1.0)), 0.0), 1.0) * 255)) for v in lin
    )


def mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


# --- WCAG 2.x ---------------------------------------------------------------------------

def luminance(rgb: RGB) -> float:
    """WCAG relative luminance of an sRGB colour."""
    r, g, b = (_to_linear(v / 255) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: RGB, b: RGB) -> float:
    """WCAG contrast ratio, 1..21 (AA for normal text is 4.5)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)
