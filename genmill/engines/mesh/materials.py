"""Colour and finish words ("gold", "matte red", "chrome") to a metallic-roughness material."""

from __future__ import annotations

import re
from dataclasses import dataclass

# sRGB colours, 0..255. Metals carry their own metallic/roughness below.
NAMED_COLORS: dict[str, tuple[int, int, int]] = {
    "white": (240, 240, 236), "ivory": (240, 234, 214), "cream": (238, 226, 196),
    "black": (22, 22, 24), "grey": (128, 128, 128), "gray": (128, 128, 128),
    "silver": (212, 212, 216), "charcoal": (54, 57, 61),
    "red": (200, 30, 36), "crimson": (170, 18, 44), "maroon": (110, 18, 28),
    "orange": (240, 120, 20), "amber": (245, 170, 30), "yellow": (245, 210, 40),
    "lime": (150, 210, 40), "green": (40, 150, 60), "olive": (110, 120, 40),
    "teal": (20, 130, 130), "cyan": (30, 190, 210), "turquoise": (50, 200, 190),
    "blue": (30, 80, 200), "navy": (20, 36, 90), "sky": (110, 170, 230),
    "purple": (110, 50, 160), "violet": (140, 80, 200), "magenta": (200, 40, 150),
    "pink": (240, 140, 170), "rose": (220, 90, 120), "brown": (110, 70, 40),
    "tan": (200, 170, 120), "beige": (220, 205, 170), "wood": (160, 110, 60),
    "gold": (255, 200, 90), "golden": (255, 200, 90), "copper": (240, 150, 110),
    "bronze": (205, 135, 75), "brass": (230, 190, 100), "chrome": (235, 235, 240),
    "steel": (190, 192, 196), "aluminium": (220, 222, 226), "aluminum": (220, 222, 226),
    "iron": (150, 150, 152), "titanium": (180, 175, 170), "platinum": (225, 222, 215),
    "rosegold": (240, 170, 150),
}

# Metals: (metallic, roughness).
_METALS: dict[str, tuple[float, float]] = {
    "gold": (1.0, 0.25), "golden": (1.0, 0.25), "silver": (1.0, 0.2), "chrome": (1.0, 0.05),
    "copper": (1.0, 0.3), "bronze": (1.0, 0.35), "brass": (1.0, 0.3), "steel": (1.0, 0.35),
    "aluminium": (1.0, 0.4), "aluminum": (1.0, 0.4), "iron": (1.0, 0.5),
    "titanium": (1.0, 0.35), "platinum": (1.0, 0.2), "rosegold": (1.0, 0.25),
}

# Finish words: (metallic or None to keep, roughness).
_FINISHES: dict[str, tuple[float | None, float]] = {
    "matte": (None, 0.9), "matt": (None, 0.9), "satin": (None, 0.5), "brushed": (None, 0.45),
    "glossy": (None, 0.15), "gloss": (None, 0.15), "shiny": (None, 0.12),
    "polished": (None, 0.08), "mirror": (1.0, 0.02), "metallic": (1.0, 0.3),
    "plastic": (0.0, 0.35), "ceramic": (0.0, 0.2), "rubber": (0.0, 0.95),
}

DEFAULT_COLOR = (232, 232, 228)
GREY = (150, 150, 150)
_QUOTED = re.compile(r"[\"“”«»„']([^\"“”«»„']+)[\"“”«»„']")
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Material:
    base_color: tuple[float, float, float]  # linear RGB, as glTF's baseColorFactor
    metallic: float
    roughness: float
    unlit: bool = False
    textured: bool = False  # the base colour is multiplied by the image texture


def material_words(words: str) -> list[str]:
    """The colour and finish words `resolve` reads in `words`, in order."""
    tokens = _WORD.findall(words.lower().replace("rose gold", "rosegold"))
    return [t for t in tokens if t in NAMED_COLORS or t in _FINISHES]


def srgb_to_linear(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def split_prompt(prompt: str) -> tuple[str, str]:
    """(text, style words): the quoted part is the text; with no quotes, all of it."""
    match = _QUOTED.search(prompt)
    if match is None:
        return prompt.strip(), ""
    return match.group(1), prompt[: match.start()] + " " + prompt[match.end() :]


def _parse_hex(value: str) -> tuple[int, int, int]:
    value = value.strip().lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def resolve(
    words: str,
    color: str | None,
    metallic: float | None,
    roughness: float | None,
    *,
    texture_enable: bool,
    pbr_enable: bool,
    textured: bool = False,
    default_roughness: float = 0.4,
) -> Material:
    """Explicit params win over prompt words; prompt words win over defaults."""
    tokens = _WORD.findall(words.lower().replace("rose gold", "rosegold"))
    rgb, metal, rough = DEFAULT_COLOR, 0.0, default_roughness
    for token in tokens:
        if token in NAMED_COLORS:
            rgb = NAMED_COLORS[token]
            if token in _METALS:
                metal, rough = _METALS[token]
    for token in tokens:
        if token in _FINISHES:
            finish_metal, rough = _FINISHES[token]
            if finish_metal is not None:
                metal = finish_metal
    if color is not None:
        name = color.strip().lower()
        rgb = NAMED_COLORS[name] if name in NAMED_COLORS else _parse_hex(color)
        if name in _METALS and metallic is None:
            metal, rough = _METALS[name]
    if metallic is not None:
        metal = metallic
    if roughness is not None:
        rough = roughness
    if not texture_enable:
        rgb, metal, rough, textured = GREY, 0.0, 0.6, False
    linear = tuple(srgb_to_linear(c / 255.0) for c in rgb)
    return Material(
        base_color=(linear[0], linear[1], linear[2]),
        metallic=float(metal),
        roughness=float(min(max(rough, 0.02), 1.0)),
        unlit=not pbr_enable,
        textured=textured,
    )
