"""Text to glyph outlines: Noto Sans, with Noto Sans CJK Bold for what it lacks (Chinese,
Japanese, Korean), per run of text; shaped by HarfBuzz (kerning as the font defines it),
curves flattened to polylines in Noto Sans font units (y up)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np

WEIGHTS = {"regular": 400, "bold": 700}
_IGNORED = {"\n", " ", "\t", "\u00a0"}


@dataclass(frozen=True)
class _Font:
    font: object  # uharfbuzz.Font (no type stubs)
    scale: float  # its font units to the main font's


@cache
def _face(path: str):  # noqa: ANN202 - uharfbuzz has no type stubs
    import uharfbuzz as hb

    return hb.Face(hb.Blob.from_file_path(path))


@cache
def _fonts(weight: str) -> tuple[_Font, ...]:
    """Noto Sans at `weight`, then Noto Sans CJK Bold (one weight only) if installed."""
    import uharfbuzz as hb

    from genmill.engines.common import fonts

    paths = [fonts.text_path(), fonts.cjk_path()]
    main_upem = _face(str(paths[0])).upem
    out = []
    for path in paths:
        if path is None:
            continue
        face = _face(str(path))
        font = hb.Font(face)
        # Positions come back as integers in scale units: 64x upem keeps sub-unit precision.
        font.scale = (face.upem * 64, face.upem * 64)
        if path == paths[0]:
            font.set_variations({"wght": WEIGHTS[weight], "wdth": 100})
        out.append(_Font(font, main_upem / face.upem))
    return tuple(out)


def units_per_em() -> int:
    from genmill.engines.common import fonts

    return int(_face(str(fonts.text_path())).upem)


def _font_index(char: str, weight: str) -> int | None:
    for index, item in enumerate(_fonts(weight)):
        if item.font.get_nominal_glyph(ord(char)) is not None:
            return index
    return None


def missing_glyphs(text: str, weight: str = "regular") -> list[str]:
    """Characters of `text` no font has a glyph for, each once, in order."""
    missing: list[str] = []
    for char in text:
        if char in _IGNORED or char in missing:
            continue
        if not char.isprintable() or _font_index(char, weight) is None:
            missing.append(char)
    return missing


def _runs(line: str, weight: str) -> list[tuple[str, int]]:
    """The line as (text, font index) runs; spaces stay in the run they are in."""
    runs: list[tuple[str, int]] = []
    for char in line:
        index = None if char in _IGNORED else _font_index(char, weight)
        if index is None:
            index = runs[-1][1] if runs else 0
        if runs and runs[-1][1] == index:
            runs[-1] = (runs[-1][0] + char, index)
        else:
            runs.append((char, index))
    return runs


def _shape(text: str, item: _Font):  # noqa: ANN202
    import uharfbuzz as hb

    buf = hb.Buffer()
    buf.add_str(text)
    buf.guess_segment_properties()
    hb.shape(item.font, buf, {"kern": True, "liga": True})
    return buf


def advance(text: str, weight: str) -> float:
    """Width of one line of `text` in main-font units."""
    total = 0.0
    for run, index in _runs(text, weight):
        item = _fonts(weight)[index]
        total += sum(p.x_advance for p in _shape(run, item).glyph_positions) / 64 * item.scale
    return total


def line_height(weight: str, line_spacing: float = 1.0) -> float:
    """Baseline to baseline, main-font units."""
    extents = _fonts(weight)[0].font.get_font_extents("ltr")
    return (extents.ascender - extents.descender + extents.line_gap) / 64.0 * line_spacing


class _FlattenPen:
    """Collects closed contours, curves split into segments no further than `tol` off."""

    def __init__(self, tol: float, dx: float, dy: float, scale: float = 1.0) -> None:
        self.tol, self.dx, self.dy, self.k = tol, dx, dy, scale / 64.0
        self.contours: list[np.ndarray] = []
        self._points: list[tuple[float, float]] = []

    def _p(self, pt: tuple[float, float]) -> tuple[float, float]:
        return (pt[0] * self.k + self.dx, pt[1] * self.k + self.dy)

    def moveTo(self, pt: tuple[float, float]) -> None:  # noqa: N802 - pen protocol
        self._flush()
        self._points = [self._p(pt)]

    def lineTo(self, pt: tuple[float, float]) -> None:  # noqa: N802
        self._points.append(self._p(pt))

    def _steps(self, *ctrl: tuple[float, float]) -> int:
        # Deviation of a Bezier from its chord is bounded by its control polygon's.
        start, end = np.array(self._points[-1]), np.array(ctrl[-1])
        chord = end - start
        length = float(np.hypot(*chord)) or 1.0
        dev = max(
            abs(float(chord[0] * (c[1] - start[1]) - chord[1] * (c[0] - start[0]))) / length
            for c in ctrl
        )
        return max(1, min(24, math.ceil(math.sqrt(dev / self.tol))))

    def qCurveTo(self, *pts: tuple[float, float]) -> None:  # noqa: N802
        pts = [self._p(p) for p in pts]
        # TrueType: on-curve points between consecutive off-curve ones are implied.
        for i, ctrl in enumerate(pts[:-1]):
            end = pts[-1] if i == len(pts) - 2 else (
                ((ctrl[0] + pts[i + 1][0]) / 2, (ctrl[1] + pts[i + 1][1]) / 2)
            )
            start = np.array(self._points[-1])
            n = self._steps(ctrl, end)
            t = np.linspace(0, 1, n + 1)[1:, None]
            c, e = np.array(ctrl), np.array(end)
            seg = (1 - t) ** 2 * start + 2 * (1 - t) * t * c + t**2 * e
            self._points.extend(map(tuple, seg))

    def curveTo(self, *pts: tuple[float, float]) -> None:  # noqa: N802
        c1, c2, end = (np.array(self._p(p)) for p in pts[-3:])
        start = np.array(self._points[-1])
        n = self._steps(tuple(c1), tuple(c2), tuple(end))
        t = np.linspace(0, 1, n + 1)[1:, None]
        s = 1 - t
        seg = s**3 * start + 3 * s**2 * t * c1 + 3 * s * t**2 * c2 + t**3 * end
        self._points.extend(map(tuple, seg))

    def closePath(self) -> None:  # noqa: N802
        self._flush()

    endPath = closePath  # noqa: N815

    def _flush(self) -> None:
        if len(self._points) >= 3:
            pts = np.array(self._points, dtype=np.float64)
            if np.allclose(pts[0], pts[-1]):
                pts = pts[:-1]
            if len(pts) >= 3:
                self.contours.append(pts)
        self._points = []


@dataclass
class GlyphOutline:
    char: str
    contours: list[np.ndarray]  # (n, 2) closed polylines, font units, y up


def layout(
    text: str, weight: str, align: str = "center", line_spacing: float = 1.0, tol: float = 1.0
) -> list[GlyphOutline]:
    """Shape each line, run by run, and place its glyph outlines; line 1's baseline is
    y=0."""
    fonts = _fonts(weight)
    step = line_height(weight, line_spacing)
    lines = text.split("\n")
    shaped = []
    for line in lines:
        runs = [(run, fonts[index], _shape(run, fonts[index]))
                for run, index in _runs(line, weight)]
        width = sum(sum(p.x_advance for p in buf.glyph_positions) / 64 * item.scale
                    for _, item, buf in runs)
        shaped.append((runs, width))
    widest = max(width for _, width in shaped)
    outlines: list[GlyphOutline] = []
    for row, (runs, width) in enumerate(shaped):
        x = {"left": 0.0, "center": (widest - width) / 2, "right": widest - width}[align]
        y = -row * step
        for run, item, buf in runs:
            k = item.scale / 64.0
            for info, pos in zip(buf.glyph_infos, buf.glyph_positions, strict=True):
                pen = _FlattenPen(tol, x + pos.x_offset * k, y + pos.y_offset * k, item.scale)
                item.font.draw_glyph_with_pen(info.codepoint, pen)
                pen._flush()
                if pen.contours:
                    char = run[info.cluster] if info.cluster < len(run) else ""
                    outlines.append(GlyphOutline(char, pen.contours))
                x += pos.x_advance * k
    return outlines
