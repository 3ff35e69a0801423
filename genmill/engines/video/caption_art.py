"""Burned-in captions: wrapped, outlined, softly shadowed text as a ready-to-paste overlay.

Each caption is drawn once (RGBA) and converted to planes once; every frame it is on
screen only pastes it (see `Planes.overlay`).
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageColor, ImageDraw, ImageFilter

from genmill.engines.common import fonts, linebreak
from genmill.engines.video.planes import Overlay

CAPTION_WEIGHT = 800  # Noto Sans at a heavy weight; CJK runs fall back to Noto Sans CJK Bold
MAX_LINES = 3
MAX_LINE_CHARS = 42  # beyond this a line is tiring to read, however wide the frame
_LINE_GAP = 1.22


@dataclass(frozen=True)
class CaptionStyle:
    frame: tuple[int, int]
    font_size: int = 72  # pixels at a 1080-pixel short side
    position: str = "bottom"  # bottom | center | top
    fill: str = "#FFFFFF"
    stroke: str = "#000000"
    stroke_width: float = 3.0  # pixels at a 1080-pixel short side

    @property
    def scale(self) -> float:
        return min(self.frame) / 1080.0

    @property
    def size_px(self) -> int:
        return max(10, round(self.font_size * self.scale))

    @property
    def max_width(self) -> float:
        return self.frame[0] * 0.86

    def max_chars(self, cjk: bool) -> int:
        """About how many characters fit in two caption lines (used to cut chunks)."""
        advance = self.size_px * (1.0 if cjk else 0.55)
        per_line = int(self.max_width / advance)
        return max(8, 2 * (per_line if cjk else min(per_line, MAX_LINE_CHARS)))


def caption_stack() -> fonts.Stack:
    return fonts.text_stack(CAPTION_WEIGHT)


def wrap(text: str, stack: fonts.Stack, size: int, width: float) -> list[str]:
    """Lines of about equal length (no orphan word on a last line), at most `width` wide."""
    lines = _greedy(text, stack, size, width)
    narrow = width
    # Narrow the measure while the line count holds: the greedy breaks then even out.
    while len(lines) > 1 and narrow > width * 0.4:
        narrow *= 0.95
        trial = _greedy(text, stack, size, narrow)
        if len(trial) != len(lines):
            break
        lines = trial
    return lines


def _greedy(text: str, stack: fonts.Stack, size: int, width: float) -> list[str]:
    """Greedy line breaking where `linebreak` allows: at spaces and between CJK words (a
    word is never cut, and a line never starts with closing punctuation)."""
    lines: list[list[linebreak.Piece]] = []
    line: list[linebreak.Piece] = []
    for piece in linebreak.pieces(text):
        if line and fonts.length(linebreak.join([*line, piece]), stack, size) > width:
            lines.append(line)
            line = [piece]
        else:
            line.append(piece)
    if line:
        lines.append(line)
    return [linebreak.join(ln) for ln in lines]


def render(text: str, style: CaptionStyle) -> Overlay:
    """The caption as an overlay at its place in the frame."""
    width, height = style.frame
    size = style.size_px
    stack = caption_stack()
    lines = wrap(text, stack, size, style.max_width)
    while len(lines) > MAX_LINES and size > 12:  # a chunk too long for its size: shrink
        size = int(size * 0.9)
        lines = wrap(text, stack, size, style.max_width)
    stroke = max(0, round(style.stroke_width * style.scale))
    line_h = round(size * _LINE_GAP)
    pad = stroke + round(size * 0.35)  # room for the outline and the shadow's blur
    block_h = line_h * len(lines) + 2 * pad
    block_h += block_h % 2
    art = Image.new("RGBA", (width, block_h), (0, 0, 0, 0))
    shadow = Image.new("L", (width, block_h), 0)
    shade = ImageDraw.Draw(shadow)
    draw = ImageDraw.Draw(art)
    fill = ImageColor.getrgb(style.fill)
    outline = ImageColor.getrgb(style.stroke)
    for i, line in enumerate(lines):
        xy = (width / 2, pad + i * line_h + line_h / 2)
        fonts.draw(shade, (xy[0], xy[1] + size * 0.06), line, stack, size, "mm", fill=150,
                   stroke_width=stroke + max(1, size // 14))
        fonts.draw(draw, xy, line, stack, size, "mm", fill=fill, stroke_width=stroke,
                   stroke_fill=outline)
    # A soft dark shadow keeps light text legible on light backgrounds, even unstroked.
    shadow = shadow.filter(ImageFilter.GaussianBlur(max(1.0, size * 0.12)))
    layer = Image.new("RGBA", (width, block_h), (0, 0, 0, 0))
    layer.putalpha(shadow)
    layer.alpha_composite(art)
    return Overlay.from_rgba(layer, (0, _top(style, block_h)))


def _top(style: CaptionStyle, block_h: int) -> int:
    width, height = style.frame
    portrait = height > width
    if style.position == "top":
        top = height * (0.12 if portrait else 0.06)
    elif style.position == "center":
        top = (height - block_h) / 2
    else:  # bottom: in shorts, clear of the player's buttons and description
        top = height * (1 - (0.2 if portrait else 0.07)) - block_h
    top = int(min(max(top, 0), height - block_h))
    return top - top % 2
