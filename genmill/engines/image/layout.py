"""Setting text in a box: balanced line breaks and the largest font size that fits.

Widths are measured once at a reference size and scale linearly with the font size, so
trying every line count costs arithmetic, not font loads; the chosen size is then
checked with the real font at that size (hinting can make it a pixel wider).
"""

from __future__ import annotations

from dataclasses import dataclass

from genmill.engines.image.fonts import Face, font

REF = 200  # reference size, px


@dataclass(frozen=True)
class Block:
    """Lines of text set at one size: what the card needs to place and draw them."""

    lines: tuple[str, ...]
    face: Face
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


def _balanced(widths: list[float], space: float, count: int) -> tuple[float, list[int]]:
    """Split words into `count` lines minimising the widest line (then the raggedness).

    Returns (widest, break indices). Dynamic programming over break points: O(count*n^2).
    """
    n = len(widths)
    prefix = [0.0]
    for w in widths:
        prefix.append(prefix[-1] + w)

    def span(i: int, j: int) -> float:  # words i..j-1 on one line
        return prefix[j] - prefix[i] + space * (j - i - 1)

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


def _split_long(words: list[str], measure, limit: float) -> list[str]:
    """Break words wider than `limit` (URLs, long compounds) into pieces that fit."""
    out: list[str] = []
    for word in words:
        while measure(word) > limit and len(word) > 1:
            cut = len(word) - 1
            while cut > 1 and measure(word[:cut]) > limit:
                cut -= 1
            out.append(word[:cut])
            word = word[cut:]
        out.append(word)
    return out


def _bind_short(words: list[str]) -> list[str]:
    """Keep one-letter words ("a", "I", Russian "в") with the next word: a line should
    not end on one."""
    out: list[str] = []
    carry = ""
    for word in words:
        word = f"{carry} {word}" if carry else word
        carry = ""
        if len(word) == 1 and word.isalpha():
            carry = word
        else:
            out.append(word)
    if carry:  # a last one-letter word ("plan B") stays with the word before it
        if out:
            out[-1] = f"{out[-1]} {carry}"
        else:
            out.append(carry)
    return out


def fit(text: str, face: Face, max_width: float, max_height: float, max_size: int,
        min_size: int, max_lines: int, leading: float) -> Block:
    """The largest setting of `text` that fits max_width x max_height."""
    ref = font(face, REF)
    words = _bind_short(text.split())
    if not words:
        return Block((), face, min_size, leading * min_size, (), 0.0, 0.0)
    # At the smallest size the box is max_width * REF / min_size reference pixels wide.
    words = _split_long(words, ref.getlength, max_width * REF / min_size)
    widths = [ref.getlength(w) for w in words]
    space = ref.getlength(" ")
    cap = -ref.getbbox("H", anchor="ls")[1] / REF
    tail = 0.24  # descender room, in em: a visual bottom, not the font's full descent

    best: tuple[float, int, list[int]] | None = None
    for count in range(1, min(max_lines, len(words)) + 1):
        widest, breaks = _balanced(widths, space, count)
        size = min(max_width * REF / widest, max_height / (cap + leading * (count - 1) + tail),
                   max_size)
        # a line more must earn its place: 6% larger text, or it is not worth the break
        if best is None or size > best[0] * 1.06:
            best = (size, count, breaks)
    assert best is not None
    size, _, breaks = best
    lines, start = [], 0
    for end in breaks:
        lines.append(" ".join(words[start:end]))  # bound pairs keep their plain space
        start = end
    size_px = max(min_size, int(size))
    while True:  # verify with the real font at the chosen size; shrink if hinting widened it
        real = font(face, size_px)
        line_widths = [real.getlength(line) for line in lines]
        if max(line_widths) <= max_width or size_px <= min_size:
            break
        size_px -= 1
    return Block(tuple(lines), face, size_px, leading * size_px, tuple(line_widths),
                 cap * size_px, tail * size_px)
