"""A z-buffer triangle rasteriser in numpy: vectorised over triangles grouped by size."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_BUCKETS = (1, 2, 4, 8, 16, 32)
_CHUNK = 800_000  # candidate pixels per batch: bounds memory (~12 arrays of this)


@dataclass
class Frame:
    """Per pixel: nearest triangle (-1: none), its screen barycentrics and closeness."""

    tri: np.ndarray  # (h, w) int32
    bary: np.ndarray  # (h, w, 3) float32
    near: np.ndarray  # (h, w) float64, -inf where empty


def rasterize(
    xy: np.ndarray,
    near: np.ndarray,
    faces: np.ndarray,
    width: int,
    height: int,
    cull: bool = True,
) -> Frame:
    """`xy`: pixel coordinates (pixel centres at +0.5, y down). `near`: a value affine in
    screen space, larger = closer (1/z for perspective, -depth for orthographic).
    With `cull`, triangles wound clockwise on screen (back faces) are skipped."""
    x, y = xy[:, 0][faces], xy[:, 1][faces]  # (m, 3)
    area = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (x[:, 2] - x[:, 0]) * (y[:, 1] - y[:, 0])
    keep = area < 0 if cull else area != 0
    x0 = np.clip(np.ceil(x.min(axis=1) - 0.5), 0, width - 1)
    x1 = np.clip(np.floor(x.max(axis=1) - 0.5), 0, width - 1)
    y0 = np.clip(np.ceil(y.min(axis=1) - 0.5), 0, height - 1)
    y1 = np.clip(np.floor(y.max(axis=1) - 0.5), 0, height - 1)
    keep &= (x.max(axis=1) >= 0) & (x.min(axis=1) < width)
    keep &= (y.max(axis=1) >= 0) & (y.min(axis=1) < height)
    keep &= (x1 >= x0) & (y1 >= y0)
    ids = np.nonzero(keep)[0]
    span = np.maximum(x1 - x0, y1 - y0)[ids] + 1

    samples: list[tuple[np.ndarray, ...]] = []
    done = np.zeros(len(ids), dtype=bool)
    for size in (*_BUCKETS, None):
        sel = ~done if size is None else (~done & (span <= size))
        done |= sel
        group = ids[sel]
        if size is None:
            # Big triangles: one at a time over their own bounding box.
            for t in group:
                w_t = int(x1[t] - x0[t]) + 1
                h_t = int(y1[t] - y0[t]) + 1
                px = x0[t] + np.tile(np.arange(w_t), h_t)
                py = y0[t] + np.repeat(np.arange(h_t), w_t)
                samples.append(_cover(np.array([t]), px[None], py[None], x, y, area, near,
                                      faces, width))
            continue
        offsets = np.arange(size * size)
        ox, oy = offsets % size, offsets // size
        per = max(1, _CHUNK // (size * size))
        for start in range(0, len(group), per):
            g = group[start : start + per]
            px = x0[g][:, None] + ox[None]
            py = y0[g][:, None] + oy[None]
            valid = (px <= x1[g][:, None]) & (py <= y1[g][:, None])
            samples.append(_cover(g, px, py, x, y, area, near, faces, width, valid))

    frame = Frame(
        tri=np.full((height, width), -1, dtype=np.int32),
        bary=np.zeros((height, width, 3), dtype=np.float32),
        near=np.full((height, width), -np.inf),
    )
    if not samples:
        return frame
    pix, depth, tri, b0, b1 = (np.concatenate(parts) for parts in zip(*samples, strict=True))
    flat_near = frame.near.reshape(-1)
    np.maximum.at(flat_near, pix, depth)
    win = depth >= flat_near[pix]
    pix, tri, b0, b1 = pix[win], tri[win], b0[win], b1[win]
    frame.tri.reshape(-1)[pix] = tri
    bary = frame.bary.reshape(-1, 3)
    bary[pix, 0] = b0
    bary[pix, 1] = b1
    bary[pix, 2] = 1.0 - b0 - b1
    return frame


def _cover(
    g: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    area: np.ndarray,
    near: np.ndarray,
    faces: np.ndarray,
    width: int,
    valid: np.ndarray | None = None,
) -> tuple[np.ndarray, ...]:
    cx, cy = px + 0.5, py + 0.5
    xa, xb, xc = (x[g, i][:, None] for i in range(3))
    ya, yb, yc = (y[g, i][:, None] for i in range(3))
    inv = 1.0 / area[g][:, None]
    b0 = ((xb - cx) * (yc - cy) - (xc - cx) * (yb - cy)) * inv
    b1 = ((xc - cx) * (ya - cy) - (xa - cx) * (yc - cy)) * inv
    b2 = 1.0 - b0 - b1
    eps = -1e-6
    inside = (b0 >= eps) & (b1 >= eps) & (b2 >= eps)
    if valid is not None:
        inside &= valid
    rows, cols = np.nonzero(inside)
    tri = g[rows]
    nz = near[faces[tri]]
    w0, w1 = b0[rows, cols], b1[rows, cols]
    depth = w0 * nz[:, 0] + w1 * nz[:, 1] + (1.0 - w0 - w1) * nz[:, 2]
    pix = (py[rows, cols] * width + px[rows, cols]).astype(np.int64)
    return pix, depth, tri.astype(np.int32), w0.astype(np.float32), w1.astype(np.float32)
