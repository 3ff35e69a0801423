"""Glyph contours to clean polygons: nonzero fill (variable fonts keep overlapping
contours), holes under their outer ring, and simplification to a vertex budget."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import LinearRing, MultiPolygon, Polygon
from shapely.geometry.polygon import orient
from shapely.ops import polygonize, unary_union


def _winding(contour: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Winding number of a closed polyline around each point (crossing count, signed)."""
    a = contour
    b = np.roll(contour, -1, axis=0)
    px = points[:, 0][:, None]
    py = points[:, 1][:, None]
    ax, ay, bx, by = a[:, 0][None], a[:, 1][None], b[:, 0][None], b[:, 1][None]
    side = (bx - ax) * (py - ay) - (px - ax) * (by - ay)
    up = (ay <= py) & (by > py) & (side > 0)
    down = (ay > py) & (by <= py) & (side < 0)
    return up.sum(axis=1) - down.sum(axis=1)


def fill_nonzero(contours: list[np.ndarray]) -> list[Polygon]:
    """The area a renderer fills with the nonzero rule, as non-overlapping polygons."""
    rings = [LinearRing(c) for c in contours if len(c) >= 3]
    if not rings:
        return []
    faces = list(polygonize(unary_union(rings)))
    if not faces:
        return []
    probes = np.array([f.representative_point().coords[0] for f in faces])
    winding = sum(_winding(c, probes) for c in contours)
    kept = [f for f, w in zip(faces, winding, strict=True) if w != 0]
    return polygons_of(unary_union(kept))


def polygons_of(geom: object) -> list[Polygon]:
    if isinstance(geom, Polygon):
        parts = [geom]
    elif isinstance(geom, MultiPolygon):
        parts = list(geom.geoms)
    else:
        parts = [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon)]
    return [orient(p, 1.0) for p in parts if not p.is_empty and p.area > 0]


def vertex_count(polygons: list[Polygon]) -> int:
    return sum(
        len(p.exterior.coords) - 1 + sum(len(r.coords) - 1 for r in p.interiors)
        for p in polygons
    )


def simplify(polygons: list[Polygon], tolerance: float) -> list[Polygon]:
    """Douglas-Peucker that keeps topology; pieces that collapse are dropped."""
    out: list[Polygon] = []
    for p in polygons:
        s = shapely.simplify(p, tolerance, preserve_topology=True)
        out.extend(polygons_of(shapely.make_valid(s)) if not s.is_valid else polygons_of(s))
    return [p for p in out if p.area > tolerance * tolerance]


def fit_budget(
    polygons: list[Polygon], max_vertices: int, min_tolerance: float, max_tolerance: float
) -> list[Polygon]:
    """The least-simplified outline with at most `max_vertices` vertices (binary search)."""
    best = simplify(polygons, min_tolerance)
    if vertex_count(best) <= max_vertices:
        return best
    low, high = min_tolerance, max_tolerance
    best = simplify(polygons, high)
    if vertex_count(best) > max_vertices:
        return best
    for _ in range(18):
        mid = (low * high) ** 0.5
        trial = simplify(polygons, mid)
        if vertex_count(trial) <= max_vertices:
            best, high = trial, mid
        else:
            low = mid
        if high / low < 1.05:
            break
    return best
