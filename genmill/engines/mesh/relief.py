"""An image to a printable heightfield solid: relief (bright = high) or lithophane
(dark = thick), resampled to a grid whose triangle count stays under the limit."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image

from genmill.engines.base import InputError
from genmill.engines.mesh.export import Texture
from genmill.engines.mesh.meshdata import Mesh, MeshBuilder

MIN_SIDE = 8
TEXTURE_SIDE = 2048
WORK_SIDE = 2048  # 2M triangles is a grid of about 1000x1000


def triangles_for(cols: int, rows: int) -> int:
    """Top 2 per cell, walls 2 per rim edge, bottom fan 1 per rim edge."""
    rim = 2 * (cols - 1) + 2 * (rows - 1)
    return 2 * (cols - 1) * (rows - 1) + 3 * rim


def grid_size(width: int, height: int, face_limit: int) -> tuple[int, int]:
    """The largest grid (vertex columns, rows) of the image's aspect under the limit,
    never finer than the image itself."""
    aspect = height / width

    def rows_for(cols: int) -> int:
        return max(2, round((cols - 1) * aspect) + 1)

    low, high = 2, max(2, width)
    while low < high:
        mid = (low + high + 1) // 2
        if triangles_for(mid, rows_for(mid)) <= face_limit and rows_for(mid) <= max(height, 2):
            low = mid
        else:
            high = mid - 1
    return low, rows_for(low)


def load_image(image: Image.Image) -> tuple[np.ndarray, np.ndarray, Image.Image]:
    """(luma 0..1, alpha 0..1, RGB on white for the texture) from any PIL mode."""
    if image.width < MIN_SIDE or image.height < MIN_SIDE:
        raise InputError(
            f"input image is {image.width}x{image.height}; need at least {MIN_SIDE}x{MIN_SIDE}"
        )
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    rgba = image.convert("RGBA") if has_alpha else image.convert("RGB").convert("RGBA")
    # No grid under the face limit is finer than this: shrink first to spare memory.
    if max(rgba.size) > WORK_SIDE:
        rgba.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX)
    arr = np.asarray(rgba, dtype=np.float32) / 255.0
    alpha = arr[..., 3]
    luma = arr[..., 0] * 0.2126 + arr[..., 1] * 0.7152 + arr[..., 2] * 0.0722
    if has_alpha and float(alpha.max()) < 1e-3:
        raise InputError("input image is fully transparent: nothing to raise")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    flat = Image.alpha_composite(white, rgba).convert("RGB")
    return luma, alpha, flat


def tone_map(
    luma: np.ndarray, alpha: np.ndarray, mode: str, invert: bool, cols: int, rows: int
) -> np.ndarray:
    """0..1 per grid vertex: 1 is the thickest point. Transparent pixels go to 0 (the base)."""
    t = luma if mode == "relief" else 1.0 - luma
    if invert:
        t = 1.0 - t
    t = (t * alpha).astype(np.float32)
    src = Image.fromarray(t, mode="F")
    # Box averaging when shrinking keeps fine texture from aliasing into ridges.
    shrinking = cols < t.shape[1] or rows < t.shape[0]
    method = Image.Resampling.BOX if shrinking else Image.Resampling.BICUBIC
    grid = np.asarray(src.resize((cols, rows), method), dtype=np.float64)
    low, high = float(grid.min()), float(grid.max())
    if high - low < 1e-6:
        return np.ones_like(grid)
    return np.clip((grid - low) / (high - low), 0.0, 1.0)


def add_border(t: np.ndarray, border_mm: float, step_x: float, step_y: float) -> np.ndarray:
    if border_mm <= 0:
        return t
    bx = max(1, round(border_mm / step_x))
    by = max(1, round(border_mm / step_y))
    t = t.copy()
    t[:by, :] = t[-by:, :] = 1.0
    t[:, :bx] = t[:, -bx:] = 1.0
    return t


def heightfield_mesh(
    z: np.ndarray, width_mm: float, height_mm: float, check: Callable[[], None]
) -> Mesh:
    """A closed solid: the heightfield on top, vertical walls, a flat bottom at z=0."""
    rows, cols = z.shape
    xs = np.linspace(0.0, width_mm, cols)
    ys = np.linspace(height_mm, 0.0, rows)  # image row 0 is the top edge
    step_x, step_y = xs[1] - xs[0], ys[0] - ys[1]
    gx, gy = np.meshgrid(xs, ys)
    u = np.linspace(0.0, 1.0, cols, dtype=np.float32)
    v = np.linspace(0.0, 1.0, rows, dtype=np.float32)
    gu, gv = np.meshgrid(u, v)
    builder = MeshBuilder()

    # Top: smooth normals from the height gradient.
    dz_dj, dz_di = np.gradient(z)
    normals = np.stack([-dz_di / step_x, dz_dj / step_y, np.ones_like(z)], axis=-1)
    idx = np.arange(rows * cols).reshape(rows, cols)
    v00, v01 = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel()
    v10, v11 = idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    zf = z.ravel()
    # Split each cell along its flatter diagonal: fewer false ridges.
    main = np.abs(zf[v00] - zf[v11]) <= np.abs(zf[v01] - zf[v10])
    tri_a = np.where(main[:, None], np.stack([v00, v10, v11], 1), np.stack([v00, v10, v01], 1))
    tri_b = np.where(main[:, None], np.stack([v00, v11, v01], 1), np.stack([v01, v10, v11], 1))
    check()
    top = np.stack([gx, gy, z], axis=-1).reshape(-1, 3)
    builder.add(top, normals.reshape(-1, 3), np.concatenate([tri_a, tri_b]),
                np.stack([gu, gv], axis=-1).reshape(-1, 2))

    # The rim, counter-clockwise seen from above: left side down, bottom, right side up, top.
    loop = np.concatenate([
        idx[:-1, 0], idx[-1, :-1], idx[::-1, -1][:-1], idx[0, ::-1][:-1],
    ])
    a, b = loop, np.roll(loop, -1)
    pa, pb = top[a], top[b]
    uv_flat = np.stack([gu, gv], axis=-1).reshape(-1, 2)
    d = pb[:, :2] - pa[:, :2]
    edge_n = np.column_stack([d[:, 1], -d[:, 0], np.zeros(len(d))])
    n = len(loop)
    quad = np.stack([
        np.column_stack([pa[:, :2], np.zeros(n)]), np.column_stack([pb[:, :2], np.zeros(n)]),
        pb, pa,
    ], axis=1)
    base = np.arange(n)[:, None] * 4
    builder.add(
        quad.reshape(-1, 3),
        np.repeat(edge_n, 4, axis=0),
        np.concatenate([base + [0, 1, 2], base + [0, 2, 3]]),
        np.stack([uv_flat[a], uv_flat[b], uv_flat[b], uv_flat[a]], axis=1).reshape(-1, 2),
    )

    # Bottom: a fan from the centre, one triangle per rim edge, facing down.
    rim = np.column_stack([top[loop, :2], np.zeros(n)])
    centre = np.array([[width_mm / 2, height_mm / 2, 0.0]])
    bottom = np.concatenate([rim, centre])
    fan = np.column_stack([np.full(n, n), (np.arange(n) + 1) % n, np.arange(n)])
    builder.add(bottom, np.tile([0.0, 0.0, -1.0], (n + 1, 1)), fan,
                np.concatenate([uv_flat[loop], [[0.5, 0.5]]]))
    return builder.build(with_uvs=True)


def texture_of(flat: Image.Image, source: Image.Image) -> Texture:
    """The picture for the GLB: PNG for line art and transparency, JPEG for photos."""
    image = flat.copy()
    image.thumbnail((TEXTURE_SIDE, TEXTURE_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    lossless = source.mode in ("1", "L", "LA", "P", "PA", "RGBA") or source.format == "PNG"
    if lossless:
        image.save(buf, format="PNG", optimize=False, compress_level=6)
        return Texture(buf.getvalue(), "image/png")
    image.save(buf, format="JPEG", quality=90)
    return Texture(buf.getvalue(), "image/jpeg")
