"""Setting text in a box: balanced line breaks and the largest font size that fits.

Widths are measured once at a reference size and scale linearly with the font size, so
trying every line count costs arithmetic, not font loads; the chosen size is then
checked with the real font at that size (hinting can make it a pixel wider). Text is set
in a font `Stack` (one face per run of script) and broken only where `linebreak` allows:
at spaces, and between words of Chinese or Japanese.
"""

from __future__ import annotations

from dataclasses import dataclass

from genmill.engines.common import linebreak
from genmill.engines.common.fonts import Stack, bbox, length

REF = 200  # reference size, px


@dataclass(frozen=True)
class Block:
    """Lines of text set at one size: what the card needs to place and draw them."""

    lines: tuple[str, ...]
    stack: Stack
    size: int
    leading: float  # baseline to baseline, px
    widths: tuple[float, ...]
    cap: float  # cap height, px: the block's top is the first baseline minus this
    tail: float  # room under the last baseline, px (descenders)

    @property
    def width(self) -> float:
        return max(self.widths, default=0.0)

    @property
    def height(self) -> float:
        return self.cap + self.leading * (len(self.lines) - 1) + self.tail


def balanced(widths: list[float], gaps: list[float], count: int) -> tuple[float, list[int]]:
    """Split pieces into `count` lines minimising the widest line (then the raggedness).

    `gaps[i]` is the space before piece i (0 between Chinese words). Returns (widest,
    break indices). Dynamic programming over break points: O(count*n^2).
    """
    n = len(widths)
    prefix = [0.0]
    glue = [0.0]
    for w, g in zip(widths, gaps, strict=True):
        prefix.append(prefix[-1] + w)
        glue.append(glue[-1] + g)

    def span(i: int, j: int) -> float:  # pieces i..j-1 on one line (no gap before i)
        return prefix[j] - prefix[i] + glue[j] - glue[i + 1]

    inf = (float("inf"), float("inf"))
    best: list[list[tuple[float, float]]] = [[inf] * (n + 1) for _ in range(count + 1)]
    back = [[0] * (n + 1) for _ in range(count + 1)]
    best[0][0] = (0.0, 0.0)
    for lines in range(1, count + 1):
        for j in range(lines, n + 1):
            for i in range(lines - 1, j):
                prev = best[lines - 1][i]
                if prev[0] == float("inf"):
                    continue
                w = span(i, j)
                cand = (max(prev[0], w), prev[1] + w * w)
                # prefer a smaller widest line; among equals, the more even lines (the
                # smaller sum of squares: no lone short last line)
                if cand[0] < best[lines][j][0] - 1e-6 or (
                    abs(cand[0] - best[lines][j][0]) <= 1e-6 and cand[1] < best[lines][j][1]
                ):
                    best[lines][j] = cand
                    back[lines][j] = i
    breaks = []
    j = n
    for lines in range(count, 0, -1):
        breaks.append(j)
        j = back[lines][j]
    return best[count][n][0], sorted(breaks)


def _split_long(parts: list[linebreak.Piece], measure, limit: float) -> list[linebreak.Piece]:
    """Break pieces wider than `limit` (URLs, long compounds) into pieces that fit."""
    out: list[linebreak.Piece] = []
    for part in parts:
        word, spaced = part.text, part.spaced
        while measure(word) > limit and len(word) > 1:
            cut = len(word) - 1
            while cut > 1 and measure(word[:cut]) > limit:
                cut -= 1
            out.append(linebreak.Piece(word[:cut], spaced))
            word, spaced = word[cut:], False
        out.append(linebreak.Piece(word, spaced))
    return out


def _bind_short(parts: list[linebreak.Piece]) -> list[linebreak.Piece]:
    """Keep one-letter words ("a", "I", Russian "в") with the next word: a line should
    not end on one. Only spaced words: a one-character Chinese word is an ordinary word."""
    out: list[linebreak.Piece] = []
    carry: linebreak.Piece | None = None
    for i, part in enumerate(parts):
        if carry is not None:
            part = linebreak.Piece(f"{carry.text} {part.text}", carry.spaced)
            carry = None
        following_spaced = i + 1 < len(parts) and parts[i + 1].spaced
        if len(part.text) == 1 and part.text.isalpha() and following_spaced and (
                part.spaced or i == 0) and not linebreak.is_dense(part.text):
            carry = part
        else:
            out.append(part)
    if carry is not None:
        out.append(carry)
    # a last one-letter word ("plan B") stays with the word before it
    if len(out) > 1 and out[-1].spaced and len(out[-1].text) == 1 and out[-1].text.isalpha() \
            and not linebreak.is_dense(out[-1].text):
        last = out.pop()
        out[-1] = linebreak.Piece(f"{out[-1].text} {last.text}", out[-1].spaced)
    return out


def fit(text: str, stack: Stack, max_width: float, max_height: float, max_size: int,
        min_size: int, max_lines: int, leading: float) -> Block:
    """The largest setting of `text` that fits max_width x max_height."""
    parts = _bind_short(linebreak.pieces(text))
    if not parts:
        return Block((), stack, min_size, leading * min_size, (), 0.0, 0.0)

    def measure(piece: str) -> float:
        return length(piece, stack, REF)

    # At the smallest size the box is max_width * REF / min_size reference pixels wide.
    parts = _split_long(parts, measure, max_width * REF / min_size)
    widths = [measure(p.text) for p in parts]
    space = measure(" ")
    gaps = [space if p.spaced else 0.0 for p in parts]
    cap = -bbox("H", stack, REF)[1] / REF
    tail = 0.24  # descender room, in em: a visual bottom, not the font's full descent

    best: tuple[float, int, list[int]] | None = None
    for count in range(1, min(max_lines, len(parts)) + 1):
        widest, breaks = balanced(widths, gaps, count)
        size = min(max_width * REF / widest, max_height / (cap + leading * (count - 1) + tail),
                   max_size)
        # a line more must earn its place: 6% larger text, or it is not worth the break
        if best is None or size > best[0] * 1.06:
            best = (size, count, breaks)
    assert best is not None
    size, _, breaks = best
    lines, start = [], 0
    for end in breaks:
        lines.append(linebreak.join(parts[start:end]))  # bound pairs keep their plain space
        start = end
    size_px = max(min_size, int(size))
    while True:  # verify with the real font at the chosen size; shrink if hinting widened it
        line_widths = [length(line, stack, size_px) for line in lines]
        if max(line_widths) <= max_width or size_px <= min_size:
            break
        size_px -= 1
    return Block(tuple(lines), stack, size_px, leading * size_px, tuple(line_widths),
                 cap * size_px, tail * size_px)
