"""Breaking lettering into lines so the object has a readable shape.

Text set on one line grows long and thin: a 60-character prompt at the default 120 mm
width is a 120 x 6 mm strip of letters too small to print. Lines are broken where
`linebreak` allows (spaces; between Chinese words) into balanced lines, the fewest that
bring the block's width-to-height ratio to MAX_ASPECT or under; explicit newlines are kept.
"""

from __future__ import annotations

from genmill.engines.common import linebreak
from genmill.engines.common.layout import balanced
from genmill.engines.mesh import glyphs

MAX_ASPECT = 5.0  # a sign, a nameplate: wider than tall, but not a ribbon


def _lines_for(parts: list[linebreak.Piece], widths: list[float], gaps: list[float],
               limit: float) -> list[str]:
    """The fewest balanced lines of a paragraph no wider than `limit` (if any can be)."""
    for count in range(1, len(parts) + 1):
        widest, breaks = balanced(widths, gaps, count)
        if widest <= limit or count == len(parts):
            lines, start = [], 0
            for end in breaks:
                lines.append(linebreak.join(parts[start:end]))
                start = end
            return lines
    return []


def wrap(text: str, weight: str, line_spacing: float, max_lines: int) -> str:
    """`text` with line breaks added where it is too wide for its height."""
    step = glyphs.line_height(weight, line_spacing)
    paragraphs = []
    for paragraph in text.split("\n"):
        parts = linebreak.pieces(paragraph)
        widths = [glyphs.advance(p.text, weight) for p in parts]
        space = glyphs.advance(" ", weight)
        paragraphs.append((paragraph, parts, widths, [space if p.spaced else 0.0
                                                      for p in parts]))
    widest = max((glyphs.advance(p, weight) for p, *_ in paragraphs), default=0.0)
    if widest <= MAX_ASPECT * step * len(paragraphs):
        return text
    best = text
    limit = widest
    smallest = max((w for *_, widths, _ in paragraphs for w in widths), default=0.0)
    while limit >= smallest:
        lines: list[str] = []
        for paragraph, parts, widths, gaps in paragraphs:
            lines += _lines_for(parts, widths, gaps, limit) if parts else [paragraph]
        if len(lines) > max_lines:
            break
        best = "\n".join(lines)
        width = max(glyphs.advance(line, weight) for line in lines)
        if width <= MAX_ASPECT * step * len(lines):
            break
        limit *= 0.92
    return best
