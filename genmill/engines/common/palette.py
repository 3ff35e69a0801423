"""Seeded palettes for title cards, steered by colour and mood words in the prompt.

A palette is built in OKLCH from a few hues and a tone (dark, light or vivid): lightness
and chroma targets per role keep every palette balanced, and the text colour is chosen
for the tone so contrast starts high (the card still checks it against the pixels).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from genmill.engines.common.colors import NAMED, RGB, oklch, rgb_to_oklch, words

TONES = ("dark", "light", "vivid")

_TONE_WORDS = {
    "dark": "dark", "night": "dark", "midnight": "dark", "moody": "dark", "noir": "dark",
    "deep": "dark", "cinematic": "dark", "space": "dark", "neon": "dark",
    "light": "light", "pastel": "light", "soft": "light", "airy": "light", "clean": "light",
    "minimal": "light", "paper": "light", "bright": "vivid", "vivid": "vivid",
    "bold": "vivid", "vibrant": "vivid", "electric": "vivid", "loud": "vivid",
}

# Themes: the hues (OKLCH degrees) they evoke, and a tone when the theme implies one.
_THEMES: dict[str, tuple[tuple[float, ...], str | None]] = {
    "sunset": ((45.0, 15.0, 330.0), "vivid"), "sunrise": ((75.0, 40.0, 350.0), "vivid"),
    "ocean": ((240.0, 215.0, 190.0), None), "sea": ((240.0, 200.0), None),
    "forest": ((150.0, 125.0, 95.0), "dark"), "jungle": ((145.0, 120.0), "dark"),
    "autumn": ((55.0, 35.0, 75.0), None), "fall": ((55.0, 35.0), None),
    "winter": ((235.0, 210.0), "light"), "ice": ((220.0, 200.0), "light"),
    "spring": ((140.0, 350.0, 95.0), "light"), "summer": ((85.0, 200.0, 40.0), "vivid"),
    "fire": ((35.0, 20.0, 60.0), "dark"), "desert": ((70.0, 50.0), "light"),
    "candy": ((350.0, 200.0, 300.0), "light"), "galaxy": ((300.0, 270.0, 230.0), "dark"),
    "aurora": ((160.0, 200.0, 300.0), "dark"), "retro": ((60.0, 30.0, 200.0), None),
    "earthy": ((60.0, 90.0, 40.0), None), "royal": ((285.0, 80.0), "dark"),
}

_MONO = {"black", "white", "gray", "grey", "silver", "charcoal", "monochrome", "mono"}


@dataclass(frozen=True)
class Palette:
    tone: str
    stops: tuple[RGB, ...]  # background gradient, darkest/lightest first
    accents: tuple[RGB, ...]  # shapes and patterns
    rule: RGB  # the small accent line by the title
    text: RGB
    subtext: RGB
    scrim: RGB  # what the background fades to behind text when contrast is short

    @property
    def light_text(self) -> bool:
        return self.tone != "light"


@dataclass(frozen=True)
class Hint:
    hues: tuple[float, ...] = ()
    tone: str | None = None
    mono: bool = False


def read_hint(text: str) -> Hint:
    """The hues, tone and mono-ness that the words of `text` ask for."""
    hues: list[float] = []
    tone: str | None = None
    mono = False
    for word in words(text):
        if word in _TONE_WORDS and tone is None:
            tone = _TONE_WORDS[word]
        if word in _THEMES:
            theme_hues, theme_tone = _THEMES[word]
            hues.extend(theme_hues)
            tone = tone or theme_tone
        elif word in _MONO:
            mono = True
            if word == "black":
                tone = tone or "dark"
            elif word == "white":
                tone = tone or "light"
        elif word in NAMED:
            lightness, chroma, hue = rgb_to_oklch(NAMED[word])
            if chroma < 0.03:
                mono = True
            else:
                hues.append(hue)
            if word in {"navy", "maroon", "chocolate", "charcoal"}:
                tone = tone or "dark"
            elif word in {"cream", "ivory", "beige", "peach", "lavender", "mint", "sand"}:
                tone = tone or "light"
    return Hint(tuple(dict.fromkeys(round(h, 1) for h in hues))[:3], tone, mono and not hues)


def make_palette(seed: int, hint_text: str = "", avoid: str = "") -> Palette:
    """A palette for `seed`, steered by the words of `hint_text`; tones named in `avoid`
    (the negative prompt) are not picked by chance."""
    rng = random.Random(f"palette:{seed}")
    hint = read_hint(hint_text)
    avoided = {_TONE_WORDS[w] for w in words(avoid) if w in _TONE_WORDS}
    weights = [0.0 if t in avoided else w for t, w in zip(TONES, (0.5, 0.25, 0.25), strict=True)]
    tone = hint.tone or rng.choices(TONES, weights=weights if any(weights) else None)[0]
    if hint.hues:
        hues = list(hint.hues)
    else:
        hues = [rng.uniform(0, 360)]
    # Fill to three hues: analogous or split-complementary by chance, but only analogous
    # when the prompt named a colour, so a "teal" card stays teal.
    steps = (28.0, 40.0) if hint.hues else (28.0, 40.0, 150.0, 180.0)
    while len(hues) < 3:
        step = rng.choice(steps) if len(hues) == 1 else -rng.uniform(25, 45)
        hues.append((hues[0] + step) % 360)
    h0, h1, h2 = hues[:3]
    c = 0.012 if hint.mono else 1.0  # chroma scale: near grey for black/white/grey words
    j = rng.uniform  # jitter so two seeds with the same hint still differ

    if tone == "dark":
        stops = (oklch(j(0.16, 0.22), 0.07 * c, h0), oklch(j(0.27, 0.34), 0.11 * c, h1),
                 oklch(j(0.20, 0.26), 0.09 * c, h2))
        accents = (oklch(j(0.55, 0.7), 0.17 * c, h1), oklch(j(0.5, 0.65), 0.16 * c, h2),
                   oklch(j(0.6, 0.75), 0.15 * c, h0))
        text, subtext = oklch(0.985, 0.012 * c, h0), oklch(0.88, 0.045 * c, h1)
        rule, scrim = oklch(0.78, 0.16 * c, h1), oklch(0.12, 0.04 * c, h0)
    elif tone == "light":
        stops = (oklch(j(0.95, 0.975), 0.03 * c, h0), oklch(j(0.89, 0.93), 0.06 * c, h1),
                 oklch(j(0.92, 0.95), 0.05 * c, h2))
        accents = (oklch(j(0.8, 0.87), 0.1 * c, h1), oklch(j(0.82, 0.9), 0.09 * c, h2),
                   oklch(j(0.75, 0.84), 0.12 * c, h0))
        text, subtext = oklch(0.22, 0.05 * c, h0), oklch(0.38, 0.07 * c, h1)
        rule, scrim = oklch(0.55, 0.17 * c, h1), oklch(0.985, 0.01 * c, h0)
    else:  # vivid: saturated mid tones under white text
        stops = (oklch(j(0.4, 0.47), 0.19 * c, h0), oklch(j(0.48, 0.54), 0.2 * c, h1),
                 oklch(j(0.36, 0.44), 0.17 * c, h2))
        accents = (oklch(j(0.58, 0.68), 0.2 * c, h1), oklch(j(0.55, 0.65), 0.19 * c, h2),
                   oklch(j(0.3, 0.38), 0.14 * c, h0))
        text, subtext = oklch(0.99, 0.008 * c, h0), oklch(0.93, 0.035 * c, h1)
        rule, scrim = oklch(0.9, 0.12 * c, (h1 + 40) % 360), oklch(0.2, 0.08 * c, h0)
    return Palette(tone, stops, accents, rule, text, subtext, scrim)
