"""Text to a lettering solid of the asked size within a triangle budget."""

from __future__ import annotations

from collections.abc import Callable

from shapely import affinity
from shapely.geometry import MultiPolygon, Polygon
from shapely.ops import unary_union

from genmill.engines.base import InputError
from genmill.engines.mesh import glyphs, outline
from genmill.engines.mesh.extrude import extrude, triangle_estimate
from genmill.engines.mesh.meshdata import Mesh
from genmill.engines.mesh.params import MAX_LINES
from genmill.engines.mesh.wrap import wrap

DEFAULT_WIDTH_MM = 120.0
MIN_EM_MM = 10.0  # with no size given, letters are at least this tall (the em, in mm)
DEPTH_PER_EM = 0.2  # the default depth: a fifth of the letter height (the em)


def _target_scale(
    width: float, height: float, width_mm: float | None, height_mm: float | None, upem: int
) -> float:
    if width_mm is None and height_mm is None:
        # 120 mm wide, or wider where that would make the letters too small to read
        width_mm = max(DEFAULT_WIDTH_MM, width / upem * MIN_EM_MM)
    scales = []
    if width_mm is not None:
        scales.append(width_mm / width)
    if height_mm is not None:
        scales.append(height_mm / height)
    return min(scales)


def _bbox(polygons: list[Polygon]) -> tuple[float, float, float, float]:
    return MultiPolygon(polygons).bounds


def lettering_polygons(
    text: str,
    weight: str,
    align: str,
    line_spacing: float,
    width_mm: float | None,
    height_mm: float | None,
    check: Callable[[], None],
) -> tuple[list[Polygon], float]:
    """Filled glyph areas in mm, lower-left corner of the bounds at the origin, and the
    em (the letter height the font is designed on) in mm."""
    upem = glyphs.units_per_em()
    pieces: list[Polygon] = []
    for glyph in glyphs.layout(text, weight, align, line_spacing, tol=upem * 0.0005):
        check()
        pieces.extend(outline.fill_nonzero(glyph.contours))
    if not pieces:
        raise InputError(f"text {text!r} has no visible glyphs (only spaces or marks)")
    # Tight kerning can make neighbours touch: one union keeps the solid free of overlaps.
    merged = outline.polygons_of(unary_union(pieces))
    x0, y0, x1, y1 = _bbox(merged)
    scale = _target_scale(x1 - x0, y1 - y0, width_mm, height_mm, upem)
    return [
        affinity.affine_transform(p, [scale, 0, 0, scale, -x0 * scale, -y0 * scale])
        for p in merged
    ], upem * scale


def _rescale(polygons: list[Polygon], width: float, height: float) -> list[Polygon]:
    """Undo the few-micron shrink simplification can cause, so bounds stay exact."""
    x0, y0, x1, y1 = _bbox(polygons)
    sx, sy = width / (x1 - x0), height / (y1 - y0)
    return [affinity.affine_transform(p, [sx, 0, 0, sy, -x0 * sx, -y0 * sy]) for p in polygons]


def lettering_mesh(
    text: str,
    *,
    weight: str,
    align: str,
    line_spacing: float,
    width_mm: float | None,
    height_mm: float | None,
    depth: float | None,
    bevel: float,
    segments: int,
    face_limit: int,
    check: Callable[[], None],
) -> Mesh:
    text = wrap(text, weight, line_spacing, MAX_LINES)
    polygons, em = lettering_polygons(text, weight, align, line_spacing, width_mm, height_mm,
                                      check)
    if depth is None:  # in proportion to the letters: a long text is not a deep slab
        depth = round(max(0.6, em * DEPTH_PER_EM), 2)
        bevel = min(bevel, depth * 0.45)
    x0, y0, x1, y1 = _bbox(polygons)
    width, height = x1 - x0, y1 - y0
    size = max(width, height)
    for seg in ([segments, 2, 1] if bevel > 0 else [0]):
        if seg > segments:
            continue
        bands = 1 + seg
        budget = face_limit // (4 + 2 * bands)
        for _ in range(8):
            check()
            fitted = outline.fit_budget(polygons, budget, size * 2e-5, size * 0.02)
            if fitted and triangle_estimate(fitted, bands) <= face_limit:
                fitted = _rescale(fitted, width, height)
                mesh = extrude(fitted, depth, bevel if seg else 0.0, max(seg, 1), check)
                if mesh.triangle_count <= face_limit:
                    return mesh
            budget = int(budget * 0.85)
            if budget < 8:
                break
    raise InputError(
        f"text {text!r} needs more than face_limit={face_limit} triangles even when "
        "simplified; raise face_limit or shorten the text"
    )
