"""Text to glyph outlines: Noto Sans (pip-installed), shaped by HarfBuzz (kerning as the
font defines it), curves flattened to polylines in font units (y up)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np

WEIGHTS = {"regular": 400, "bold": 700}
_IGNORED = {"\n", " ", "\t", "\u00a0"}


@cache
def _face():  # noqa: ANN202 - uharfbuzz has no type stubs
    import uharfbuzz as hb
    from fontpkg_noto_sans import ROOT

    return hb.Face(hb.Blob.from_file_path(str(ROOT / "files" / "NotoSans[wdth,wght].ttf")))


@cache
def _font(weight: str):  # noqa: ANN202
    import uharfbuzz as hb

    face = _face()
    font = hb.Font(face)
    # Positions come back as integers in scale units: 64x upem keeps sub-unit precision.
    font.scale = (face.upem * 64, face.upem * 64)
    font.set_variations({"wght": WEIGHTS[weight], "wdth": 100})
    return font


def units_per_em() -> int:
    return int(_face().upem)


def missing_glyphs(text: str, weight: str = "regular") -> list[str]:
    """Characters of `text` the font has no glyph for, each once, in order."""
    font = _font(weight)
    missing: list[str] = []
    for char in text:
        if char in _IGNORED or char in missing:
            continue
        if not char.isprintable() or font.get_nominal_glyph(ord(char)) is None:
            missing.append(char)
    return missing


class _FlattenPen:
    """Collects closed contours, curves split into segments no further than `tol` off."""

    def __init__(self, tol: float, dx: float, dy: float) -> None:
        self.tol, self.dx, self.dy = tol, dx, dy
        self.contours: list[np.ndarray] = []
        self._points: list[tuple[float, float]] = []

    def _p(self, pt: tuple[float, float]) -> tuple[float, float]:
        return (pt[0] / 64.0 + self.dx, pt[1] / 64.0 + self.dy)

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
    """Shape each line and place its glyph outlines; line 1's baseline is y=0."""
    import uharfbuzz as hb

    font = _font(weight)
    extents = font.get_font_extents("ltr")
    line_height = (extents.ascender - extents.descender + extents.line_gap) / 64.0 * line_spacing
    lines = text.split("\n")
    shaped: list[tuple[list, list, float]] = []
    for line in lines:
        buf = hb.Buffer()
        buf.add_str(line)
        buf.guess_segment_properties()
        hb.shape(font, buf, {"kern": True, "liga": True})
        width = sum(p.x_advance for p in buf.glyph_positions) / 64.0
        shaped.append((buf.glyph_infos, buf.glyph_positions, width))
    widest = max(width for _, _, width in shaped)
    outlines: list[GlyphOutline] = []
    for row, (line, (infos, positions, width)) in enumerate(zip(lines, shaped, strict=True)):
        x = {"left": 0.0, "center": (widest - width) / 2, "right": widest - width}[align]
        y = -row * line_height
        for info, pos in zip(infos, positions, strict=True):
            pen = _FlattenPen(tol, x + pos.x_offset / 64.0, y + pos.y_offset / 64.0)
            font.draw_glyph_with_pen(info.codepoint, pen)
            pen._flush()
            if pen.contours:
                char = line[info.cluster] if info.cluster < len(line) else ""
                outlines.append(GlyphOutline(char, pen.contours))
            x += pos.x_advance / 64.0
    return outlines
