"""Polygons (mm, holes included) to a closed solid: flat back at z=0, walls, an optional
rounded front bevel, and the front face at z=depth."""

from __future__ import annotations

import math
from collections.abc import Callable

import mapbox_earcut as earcut
import numpy as np
from shapely.geometry import Polygon

from genmill.engines.mesh.meshdata import Mesh, MeshBuilder

SMOOTH_ANGLE = math.radians(35)  # corners sharper than this keep a crease in the normals


def _rings(poly: Polygon) -> list[np.ndarray]:
    """Exterior (counter-clockwise) then holes (clockwise), without the closing point."""
    return [np.asarray(poly.exterior.coords)[:-1, :2]] + [
        np.asarray(r.coords)[:-1, :2] for r in poly.interiors
    ]


def _edge_normals(ring: np.ndarray) -> np.ndarray:
    """Outward normal of edge i (i -> i+1): material is on the left, so outward is right."""
    d = np.roll(ring, -1, axis=0) - ring
    n = np.stack([d[:, 1], -d[:, 0]], axis=1)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def _miters(edge_n: np.ndarray, limit: float = 2.5) -> np.ndarray:
    """Per-vertex offset direction inward (length 1/cos of half the turn, capped)."""
    prev_n = np.roll(edge_n, 1, axis=0)
    bis = prev_n + edge_n
    length = np.linalg.norm(bis, axis=1, keepdims=True)
    bis = np.where(length > 1e-9, bis / np.maximum(length, 1e-12), edge_n)
    cos_half = np.sum(bis * edge_n, axis=1, keepdims=True)
    scale = 1.0 / np.maximum(cos_half, 1.0 / limit)
    return -bis * scale


def _inset_ok(rings: list[np.ndarray], miters: list[np.ndarray], amount: float) -> bool:
    moved = [r + amount * m for r, m in zip(rings, miters, strict=True)]
    poly = Polygon(moved[0], moved[1:])
    if not poly.is_valid:
        return False
    src = Polygon(rings[0], rings[1:])
    return poly.area > 0 and src.contains(poly.buffer(-amount * 0.05))


def _closes(tris: np.ndarray, rings: list[np.ndarray]) -> bool:
    """Whether every ring edge is an edge of exactly one triangle (so the cap meets the
    walls with no gap)."""
    edges: dict[tuple[int, int], int] = {}
    for a, b, c in tris:
        for u, v in ((a, b), (b, c), (c, a)):
            key = (min(u, v), max(u, v))
            edges[key] = edges.get(key, 0) + 1
    start = 0
    for ring in rings:
        n = len(ring)
        for i in range(n):
            u, v = start + i, start + (i + 1) % n
            if edges.get((min(u, v), max(u, v))) != 1:
                return False
        start += n
    return True


def _delaunay(flat: np.ndarray, rings: list[np.ndarray]) -> np.ndarray:
    """GEOS's constrained Delaunay triangulation, as indices into `flat`: used where
    earcut's bridges to the holes run through collinear vertices (Han characters' boxes,
    such as the holes of 東, line up) and would leave a T-junction in the cap."""
    import shapely

    index = {tuple(p): i for i, p in enumerate(map(tuple, flat))}
    polygon = Polygon(rings[0], rings[1:])
    triangles = shapely.constrained_delaunay_triangles(polygon)
    tris = [[index[tuple(pt)] for pt in np.asarray(t.exterior.coords)[:3, :2]]
            for t in triangles.geoms]
    return np.asarray(tris, np.int64).reshape(-1, 3)


def _cap(rings: list[np.ndarray], z: float, up: bool) -> tuple[np.ndarray, np.ndarray]:
    flat = np.concatenate(rings)
    ends = np.cumsum([len(r) for r in rings]).astype(np.uint32)
    tris = earcut.triangulate_float64(flat, ends).reshape(-1, 3).astype(np.int64)
    if len(rings) > 1 and not _closes(tris, rings):
        tris = _delaunay(flat, rings)
    a, b, c = flat[tris[:, 0]], flat[tris[:, 1]], flat[tris[:, 2]]
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    flip = (cross < 0) if up else (cross > 0)
    tris[flip] = tris[flip][:, ::-1]
    positions = np.column_stack([flat, np.full(len(flat), z)])
    return positions, tris


def triangle_estimate(polygons: list[Polygon], bands: int) -> int:
    """Exact for earcut: caps n + 2h - 2 each, 2 per edge per band."""
    total = 0
    for p in polygons:
        rings = _rings(p)
        n = sum(len(r) for r in rings)
        holes = len(rings) - 1
        total += 2 * (n + 2 * holes - 2) + 2 * n * bands
    return total


def extrude(
    polygons: list[Polygon],
    depth: float,
    bevel: float = 0.0,
    segments: int = 4,
    check: Callable[[], None] = lambda: None,
) -> Mesh:
    builder = MeshBuilder()
    for poly in polygons:
        check()
        rings = _rings(poly)
        edge_ns = [_edge_normals(r) for r in rings]
        miters = [_miters(n) for n in edge_ns]
        amount = bevel
        while amount > 0 and not _inset_ok(rings, miters, amount):
            amount *= 0.7
            if amount < bevel * 0.05:
                amount = 0.0
        # Profile levels: (inset, z, cos, sin) of the surface normal's tilt.
        levels = [(0.0, 0.0, 1.0, 0.0), (0.0, depth - amount, 1.0, 0.0)]
        if amount > 0:
            for k in range(1, segments + 1):
                theta = k / segments * math.pi / 2
                levels.append(
                    (amount * (1 - math.cos(theta)), depth - amount + amount * math.sin(theta),
                     math.cos(theta), math.sin(theta))
                )
        # Each level's ring positions are computed once and shared by caps and bands.
        level_rings = [[r + inset * m for r, m in zip(rings, miters, strict=True)]
                       for inset, _, _, _ in levels]
        # The bands' normals: round over each level's profile tilt and, along the ring,
        # smooth where the outline turns gently, creased at corners.
        for ring_i, (ring, edge_n) in enumerate(zip(rings, edge_ns, strict=True)):
            n = len(ring)
            prev_n = np.roll(edge_n, 1, axis=0)
            smooth = np.sum(prev_n * edge_n, axis=1) > math.cos(SMOOTH_ANGLE)
            vert_n = prev_n + edge_n
            vert_n /= np.maximum(np.linalg.norm(vert_n, axis=1, keepdims=True), 1e-12)
            nxt = (np.arange(n) + 1) % n
            h_start = np.where(smooth[:, None], vert_n, edge_n)  # at vertex i on edge i
            h_end = np.where(smooth[nxt][:, None], vert_n[nxt], edge_n)  # at i+1 on edge i
            for lo, hi in zip(range(len(levels) - 1), range(1, len(levels)), strict=True):
                _, z0, c0, s0 = levels[lo]
                _, z1, c1, s1 = levels[hi]
                r0 = level_rings[lo][ring_i]
                r1 = level_rings[hi][ring_i]
                quad = np.stack([
                    np.column_stack([r0, np.full(n, z0)]),
                    np.column_stack([r0[nxt], np.full(n, z0)]),
                    np.column_stack([r1[nxt], np.full(n, z1)]),
                    np.column_stack([r1, np.full(n, z1)]),
                ], axis=1)
                normals = np.stack([
                    np.column_stack([h_start * c0, np.full(n, s0)]),
                    np.column_stack([h_end * c0, np.full(n, s0)]),
                    np.column_stack([h_end * c1, np.full(n, s1)]),
                    np.column_stack([h_start * c1, np.full(n, s1)]),
                ], axis=1)
                base = np.arange(n)[:, None] * 4
                faces = np.concatenate([base + [0, 1, 2], base + [0, 2, 3]])
                builder.add(quad.reshape(-1, 3), normals.reshape(-1, 3), faces)
        for rings_at, z, up in ((level_rings[-1], depth, True), (level_rings[0], 0.0, False)):
            positions, tris = _cap(rings_at, z, up)
            normal = np.tile([0.0, 0.0, 1.0 if up else -1.0], (len(positions), 1))
            builder.add(positions, normal, tris)
    return builder.build(with_uvs=False)
