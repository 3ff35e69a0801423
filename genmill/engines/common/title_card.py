"""Title cards: a seeded background with the title (and subtitle) set on it.

`render_title_card` and `render_background` are plain functions for other engines (the
video models use them for title frames and backdrops). `compose` also returns what the
tests need to check contrast: the backdrop as it is behind the text and the text boxes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from genmill.engines.base import InputError
from genmill.engines.common import backgrounds, fonts, layout
from genmill.engines.common.colors import RGB
from genmill.engines.common.palette import Palette, make_palette

AA_CONTRAST = 4.5
_TARGET = 4.6  # aim a little above AA: measured on the final 8-bit pixels anyway
_SCRIM_STEPS = (0.0, 0.3, 0.5, 0.65, 0.8, 0.92, 1.0)

# WCAG relative luminance per 8-bit channel value, as a lookup table.
_LINEAR = np.array(
    [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
     for c in (i / 255 for i in range(256))], dtype=np.float64)


@dataclass(frozen=True)
class TextRun:
    """One drawn line: its ink box on the canvas and its colour."""

    box: tuple[int, int, int, int]
    colour: RGB


@dataclass(frozen=True)
class Card:
    image: Image.Image
    backdrop: Image.Image  # the card with no text: what is behind the text
    runs: tuple[TextRun, ...]
    palette: Palette
    kind: str
    rule: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # the accent bar's box


def luminance_map(image: Image.Image) -> np.ndarray:
    rgb = np.asarray(image.convert("RGB"))
    return (0.2126 * _LINEAR[rgb[..., 0]] + 0.7152 * _LINEAR[rgb[..., 1]]
            + 0.0722 * _LINEAR[rgb[..., 2]])


def worst_contrast(lum: np.ndarray, runs: tuple[TextRun, ...] | list[TextRun]) -> float:
    """The lowest WCAG contrast between each run's colour and any pixel behind it."""
    worst = 21.0
    for run in runs:
        x0, y0, x1, y1 = run.box
        region = lum[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)]
        if region.size == 0:
            continue
        text = float(0.2126 * _LINEAR[run.colour[0]] + 0.7152 * _LINEAR[run.colour[1]]
                     + 0.0722 * _LINEAR[run.colour[2]])
        for bg in (float(region.min()), float(region.max())):
            high, low = max(text, bg), min(text, bg)
            worst = min(worst, (high + 0.05) / (low + 0.05))
    return worst


@dataclass(frozen=True)
class _Placed:
    block: layout.Block
    x: float  # anchor x: the left edge (left align) or the centre (center)
    top: float  # the block's top (first baseline minus cap height)
    colour: RGB


def _set_text(title: str, subtitle: str, width: int, height: int, align: str,
              palette: Palette, rng: random.Random) -> tuple[list[_Placed], tuple]:
    short = min(width, height)
    margin_x = round(max(short * 0.08, width * 0.07))
    margin_y = round(max(short * 0.08, height * 0.07))
    box_w = (width - 2 * margin_x) * (0.86 if align == "left" else 1.0)
    box_h = height - 2 * margin_y
    title_weight = rng.choice((700, 760, 820))
    title_stack = fonts.title_stack(title_weight)
    sub_stack = fonts.text_stack(rng.choice((400, 460)))
    min_size = max(10, round(short * 0.028))

    share = 0.66 if subtitle else 1.0
    if align == "left":  # the accent rule sits above the title: leave it room
        share *= 0.85
    # The whole group (rule included) must fit the box: a title that fills the height
    # would push a rule under it off the card, so it is refitted smaller until all fits.
    for _ in range(4):
        block = layout.fit(title, title_stack, box_w, box_h * share, round(short * 0.26),
                           min_size, max_lines=6, leading=1.08)
        if block.size < short * 0.07:  # a long title: try the condensed width of the face
            narrow = layout.fit(title, fonts.title_stack(title_weight, 78), box_w,
                                box_h * share, round(short * 0.26), min_size, 6, 1.08)
            if narrow.size > block.size * 1.12:
                block = narrow
        gap = block.size * 0.5
        sub_block = None
        if subtitle:
            room = box_h - block.height - gap
            sub_min = max(9, round(short * 0.022))
            sub_block = layout.fit(subtitle, sub_stack, box_w * 0.92, max(room, sub_min * 1.6),
                                   max(sub_min, round(block.size * 0.38)), sub_min, 4, 1.32)
        thick = max(2, round(block.size * 0.07))
        rule_room = block.size * 0.32 + thick if align == "left" else 0.0
        # centred with no subtitle, the rule hangs under the title: count it in the group
        rule_below = block.size * 0.38 + thick if align != "left" and not sub_block else 0.0
        total = (rule_room + block.height + rule_below
                 + (gap + sub_block.height if sub_block else 0.0))
        if total <= box_h or block.size <= min_size:
            break
        share *= max(0.5, box_h / total * 0.98)
    placed_title = block
    # optical centre sits a little high; the group is centred with the rule included
    top = rule_room + (height - total) / 2 - height * 0.015
    top = max(top, margin_y * 0.6 + rule_room)
    x = margin_x if align == "left" else width / 2
    placed = [_Placed(placed_title, x, top, palette.text)]
    if sub_block:
        placed.append(_Placed(sub_block, x, top + placed_title.height + gap, palette.subtext))
    # The accent rule: over the title when left-aligned, between the blocks when centred.
    length = max(thick * 4, round(block.size * 1.1))
    if align == "left":
        ry = top - block.size * 0.32 - thick
        rule = (x, ry, x + length, ry + thick)
    elif sub_block:
        ry = top + placed_title.height + gap / 2 - thick / 2
        rule = (x - length / 2, ry, x + length / 2, ry + thick)
    else:
        ry = top + placed_title.height + block.size * 0.38
        rule = (x - length / 2, ry, x + length / 2, ry + thick)
    return placed, rule


def _lines(placed: _Placed, align: str):
    """(x, baseline, text, anchor) for each line of a placed block."""
    anchor = "ls" if align == "left" else "ms"
    for i, line in enumerate(placed.block.lines):
        yield placed.x, placed.top + placed.block.cap + i * placed.block.leading, line, anchor


def _runs(placed: list[_Placed], align: str) -> list[TextRun]:
    runs = []
    for item in placed:
        for x, y, line, anchor in _lines(item, align):
            left, top, right, bottom = fonts.bbox(line, item.block.stack, item.block.size,
                                                  (x, y), anchor)
            box = (int(left) - 1, int(top) - 1, int(right) + 2, int(bottom) + 2)
            runs.append(TextRun(box, item.colour))
    return runs


def _scrim_mask(width: int, height: int, runs: list[TextRun], pad: float) -> np.ndarray:
    """1 behind the text, fading out over about `pad` pixels: a soft shade, not a panel."""
    small = 4  # the mask is smooth, so it is made at a quarter size and scaled up
    mw, mh = max(1, width // small), max(1, height // small)
    mask = Image.new("L", (mw, mh), 0)
    draw = ImageDraw.Draw(mask)
    for run in runs:
        x0, y0, x1, y1 = (v / small for v in run.box)
        p = pad / small
        draw.rounded_rectangle((x0 - p, y0 - p * 0.6, x1 + p, y1 + p * 0.6), radius=p,
                               fill=255)
    soft = np.asarray(mask.filter(ImageFilter.GaussianBlur(pad / small * 0.9)), np.float32)
    # stretch so the middle of the shade is at full strength right behind the ink
    soft = np.clip(soft * (1.8 / 255.0), 0.0, 1.0)
    scaled = Image.fromarray(soft, "F").resize((width, height), Image.BILINEAR)
    return np.clip(np.asarray(scaled), 0.0, 1.0)


def compose(title: str, width: int, height: int, seed: int, subtitle: str = "",
            align: str = "center", palette_hint: str = "", background: str = "auto",
            avoid: str = "") -> Card:
    """The card and what is behind its text (see `Card`)."""
    hint = " ".join(part for part in (palette_hint, title, subtitle) if part)
    palette = make_palette(seed, hint, avoid)
    kind = backgrounds.kind_for(seed, hint, avoid) if background == "auto" else background
    canvas = backgrounds.render_background_array(width, height, seed, palette, kind)
    rng = random.Random(f"type:{seed}")
    placed, rule = _set_text(title, subtitle, width, height, align, palette, rng)
    runs = _runs(placed, align)

    pad = max(8.0, placed[0].block.size * 0.6)
    mask = _scrim_mask(width, height, runs, pad) if runs else None
    scrim = np.asarray(palette.scrim, dtype=np.float32)
    for strength in _SCRIM_STEPS:  # the least scrim that reaches AA contrast
        if strength and mask is not None:
            layer = canvas + (scrim - canvas) * (mask * strength)[..., None]
        else:
            layer = canvas
        backdrop = backgrounds.to_image(layer)
        if worst_contrast(luminance_map(backdrop), runs) >= _TARGET:
            break
    ImageDraw.Draw(backdrop).rectangle(rule, fill=palette.rule)
    image = backdrop.copy()
    draw = ImageDraw.Draw(image)
    for item in placed:
        for x, y, line, anchor in _lines(item, align):
            fonts.draw(draw, (x, y), line, item.block.stack, item.block.size, anchor,
                       fill=item.colour)
    return Card(image, backdrop, tuple(runs), palette, kind, tuple(rule))


def drawable_error(title: str, subtitle: str = "") -> str | None:
    """None if the card's fonts draw the title and subtitle; else what they cannot draw."""
    return (fonts.drawable_error(title, fonts.title_stack(), "the title")
            or fonts.drawable_error(subtitle, fonts.text_stack(), "the subtitle"))


def check_drawable(title: str, subtitle: str = "") -> None:
    error = drawable_error(title, subtitle)
    if error:
        raise InputError(error)


def render_title_card(title: str, width: int, height: int, seed: int, subtitle: str = "",
                      align: str = "center", palette_hint: str = "") -> Image.Image:
    """An RGB title card. Raises InputError if the font cannot draw some characters."""
    check_drawable(title, subtitle)
    return compose(title, width, height, seed, subtitle, align, palette_hint).image


def render_background(width: int, height: int, seed: int, palette_hint: str = "") -> Image.Image:
    """The card's background alone (no text), RGB: a backdrop for video frames."""
    palette = make_palette(seed, palette_hint)
    kind = backgrounds.kind_for(seed, palette_hint)
    canvas = backgrounds.render_background_array(width, height, seed, palette, kind)
    return backgrounds.to_image(canvas)
