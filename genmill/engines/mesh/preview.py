"""A product-shot render on the CPU: 3/4 view, studio lights with a soft shadow on a
seamless backdrop, metallic-roughness shading with a procedural studio reflection."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from genmill.engines.mesh.materials import Material
from genmill.engines.mesh.meshdata import Mesh
from genmill.engines.mesh.raster import rasterize

SIZE = 1024
SUPERSAMPLE = 2
SHADOW_SIZE = 1024
_SHADE_CHUNK = 262_144


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class _Light:
    direction: np.ndarray  # towards the light
    color: np.ndarray
    shadow: bool


def _basis(forward: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    helper = np.array([0.0, 1.0, 0.0]) if abs(forward[1]) < 0.95 else np.array([1.0, 0.0, 0.0])
    right = _unit(np.cross(forward, helper))
    return right, np.cross(right, forward)


class _ShadowMap:
    """Orthographic depth from a directional light; lookups with percentage-closer filtering."""

    def __init__(self, positions: np.ndarray, faces: np.ndarray, toward: np.ndarray,
                 size: int, extent_points: np.ndarray) -> None:
        self.toward = toward
        self.right, self.up = _basis(-toward)
        pts = np.concatenate([positions, extent_points])
        u, v = pts @ self.right, pts @ self.up
        self.u0, self.v0 = u.min(), v.min()
        self.scale = (size - 2) / max(u.max() - self.u0, v.max() - self.v0)
        self.size = size
        xy = self._xy(positions)
        frame = rasterize(xy, positions @ toward, faces, size, size, cull=False)
        self.near = frame.near

    def _xy(self, p: np.ndarray) -> np.ndarray:
        return np.stack([(p @ self.right - self.u0) * self.scale + 1,
                         (p @ self.up - self.v0) * self.scale + 1], axis=-1)

    def lit(self, points: np.ndarray, bias: float, radius: float = 1.5) -> np.ndarray:
        xy = self._xy(points)
        depth = points @ self.toward
        total = np.zeros(len(points))
        taps = [(-radius, -radius), (radius, -radius), (-radius, radius), (radius, radius),
                (0.0, 0.0)]
        for dx, dy in taps:
            ix = np.clip((xy[:, 0] + dx).astype(np.int64), 0, self.size - 1)
            iy = np.clip((xy[:, 1] + dy).astype(np.int64), 0, self.size - 1)
            total += self.near[iy, ix] <= depth + bias
        return total / len(taps)


def _env(direction: np.ndarray, rough: float, key: np.ndarray) -> np.ndarray:
    """A studio: grey floor, bright ceiling softbox, key softbox, rim strip behind."""
    y = direction[:, 1]
    base = np.where(y < 0, 0.18 + 0.1 * (1 + y), 0.35 + 0.45 * np.clip(y, 0, 1) ** 0.7)
    light = np.zeros_like(y)
    for axis, size, power in (
        (np.array([0.0, 1.0, 0.0]), 0.45, 2.2),
        (key, 0.35, 5.0),
        (_unit(np.array([0.4, 0.3, -1.0])), 0.25, 2.5),
    ):
        width = size + rough * 0.9
        cos_a = direction @ axis
        edge = np.clip((cos_a - math.cos(width)) / (1 - math.cos(width) + 1e-6), 0, 1)
        light += power * (size / width) ** 2 * np.minimum(edge * 3.0, 1.0)
    return (base + light)[:, None] * np.array([1.0, 0.99, 0.97])


def _aces(x: np.ndarray) -> np.ndarray:
    return np.clip(x * (2.51 * x + 0.03) / (x * (2.43 * x + 0.59) + 0.14), 0, 1)


def _srgb(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(np.clip(x, 0, 1), 1 / 2.4) - 0.055)


def _background(height: int, width: int, dark: bool) -> np.ndarray:
    """Seamless sweep: light at the top, a touch darker towards the floor, soft vignette."""
    yy, xx = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    top, bottom = (np.array([0.30, 0.31, 0.34]), np.array([0.16, 0.16, 0.18])) if dark else (
        np.array([0.95, 0.95, 0.96]), np.array([0.84, 0.84, 0.86]))
    t = np.clip((yy - 0.1) / 0.9, 0, 1)[..., None] ** 1.3
    bg = top * (1 - t) + bottom * t
    vignette = 1 - 0.12 * (((xx - 0.5) ** 2 + (yy - 0.55) ** 2) * 2)[..., None]
    return bg * vignette


def render_preview(
    mesh: Mesh,
    material: Material,
    texture: Image.Image | None = None,
    glow: np.ndarray | None = None,
    size: int = SIZE,
    supersample: int = SUPERSAMPLE,
) -> Image.Image:
    """`glow`: per-vertex light coming through the part (lithophanes lit from behind)."""
    pos = mesh.positions
    lo, hi = pos.min(axis=0), pos.max(axis=0)
    centre = (lo + hi) / 2
    radius = float(np.linalg.norm(hi - lo)) / 2
    res = size * supersample

    azimuth, elevation, fov = math.radians(-32), math.radians(20), math.radians(30)
    view_dir = np.array([math.sin(azimuth) * math.cos(elevation), math.sin(elevation),
                         math.cos(azimuth) * math.cos(elevation)])
    cam = centre + view_dir * radius / math.sin(fov / 2) * 1.15
    forward = _unit(centre - cam)
    right, up = _basis(forward)
    rel = pos - cam
    zc = rel @ forward
    focal = 1.0 / math.tan(fov / 2)
    sx, sy = (rel @ right) / zc * focal, (rel @ up) / zc * focal
    # Fit the object to 76% of the frame, a little above centre to leave room for the shadow.
    span = max(sx.max() - sx.min(), sy.max() - sy.min())
    scale = res * 0.76 / span
    ox = res / 2 - (sx.max() + sx.min()) / 2 * scale
    oy = res * 0.47 + (sy.max() + sy.min()) / 2 * scale
    xy = np.stack([sx * scale + ox, -sy * scale + oy], axis=-1)
    frame = rasterize(xy, 1.0 / zc, mesh.faces, res, res, cull=True)

    key = _Light(_unit(np.array([-0.55, 0.85, 0.6])), np.array([2.6, 2.5, 2.35]), True)
    fill = _Light(_unit(np.array([0.8, 0.25, 0.5])), np.array([0.55, 0.6, 0.7]), False)
    rim = _Light(_unit(np.array([0.3, 0.6, -0.9])), np.array([1.3, 1.3, 1.3]), False)
    ground_y = lo[1]
    floor_pts = np.array([[lo[0] - radius * 2, ground_y, lo[2] - radius * 2],
                          [hi[0] + radius * 2, ground_y, hi[2] + radius * 2],
                          [lo[0] - radius * 2, ground_y, hi[2] + radius * 2],
                          [hi[0] + radius * 2, ground_y, lo[2] - radius * 2]])
    shadow = _ShadowMap(pos, mesh.faces, key.direction, SHADOW_SIZE, floor_pts)
    bias = radius * 0.004

    # Object pixels: perspective-correct interpolation of normals, positions, UVs; shaded
    # in chunks so memory stays flat however much of the frame the object fills.
    mask = frame.tri >= 0
    tri_all = frame.tri[mask]
    bary_all = frame.bary[mask]
    tex = None
    if texture is not None and mesh.uvs is not None:
        tex = np.asarray(texture.convert("RGB"), dtype=np.float32) / 255.0
        tex = np.where(tex <= 0.04045, tex / 12.92, ((tex + 0.055) / 1.055) ** 2.4)

    def shade(tri: np.ndarray, bary: np.ndarray) -> np.ndarray:
        corners = mesh.faces[tri]
        w = bary.astype(np.float64) * (1.0 / zc[corners])
        w /= w.sum(axis=1, keepdims=True)
        p = np.einsum("nk,nkd->nd", w, pos[corners])
        n = _unit(np.einsum("nk,nkd->nd", w, mesh.normals[corners].astype(np.float64)))
        v = _unit(cam - p)
        flip = np.sum(n * v, axis=1) < 0  # interpolated normals can lean past the silhouette
        n[flip] = _unit(n[flip] + v[flip] * 0.5)

        albedo = np.tile(np.array(material.base_color), (len(p), 1))
        if tex is not None:
            uv = np.einsum("nk,nkd->nd", w, mesh.uvs[corners].astype(np.float64))
            th, tw = tex.shape[0] - 1, tex.shape[1] - 1
            tx = np.clip((uv[:, 0] * tw).round().astype(np.int64), 0, tw)
            ty = np.clip((uv[:, 1] * th).round().astype(np.int64), 0, th)
            albedo = albedo * tex[ty, tx]

        if material.unlit:
            color = albedo
        else:
            metal, rough = material.metallic, max(material.roughness, 0.04)
            f0 = 0.04 * (1 - metal) + albedo * metal
            n_dot_v = np.clip(np.sum(n * v, axis=1), 1e-3, 1)[:, None]
            diffuse = np.zeros_like(p)
            specular = np.zeros_like(p)
            alpha2 = rough**4
            for light in (key, fill, rim):
                n_dot_l = np.clip(n @ light.direction, 0, 1)[:, None]
                vis = np.ones((len(p), 1))
                if light.shadow:
                    vis = shadow.lit(p + n * bias, bias)[:, None]
                h = _unit(v + light.direction)
                n_dot_h = np.clip(np.sum(n * h, axis=1), 0, 1)[:, None]
                d = alpha2 / (math.pi * (n_dot_h**2 * (alpha2 - 1) + 1) ** 2)
                k = (rough + 1) ** 2 / 8
                g = n_dot_l / (n_dot_l * (1 - k) + k) * n_dot_v / (n_dot_v * (1 - k) + k)
                fresnel = f0 + (1 - f0) * (1 - np.sum(v * h, axis=1)[:, None].clip(0, 1)) ** 5
                diffuse += light.color * n_dot_l * vis
                specular += light.color * d * g * fresnel / (4 * n_dot_v + 1e-4) * vis
            sky = 0.5 + 0.5 * n[:, 1:2]
            ambient = 0.22 + 0.3 * sky
            refl = 2 * n_dot_v * n - v
            env = _env(_unit(refl), rough, key.direction)
            env_f = f0 + (np.maximum(1 - rough, f0) - f0) * (1 - n_dot_v) ** 5
            color = albedo * (1 - metal) * (diffuse / math.pi * 2.2 + ambient) + specular
            color += env * env_f * (0.35 + 0.65 * metal)
        if glow is not None:
            g = np.einsum("nk,nk->n", w, glow[corners])[:, None]
            color = color * 0.08 + g**1.2 * np.array([1.7, 1.45, 1.1])
        return _srgb(_aces(color * 0.9))

    shaded = np.empty((len(tri_all), 3), dtype=np.float32)
    for s0 in range(0, len(tri_all), _SHADE_CHUNK):
        shaded[s0 : s0 + _SHADE_CHUNK] = shade(tri_all[s0 : s0 + _SHADE_CHUNK],
                                               bary_all[s0 : s0 + _SHADE_CHUNK])

    # Floor: where the camera ray meets the ground, darken by the key's shadow and by a
    # soft contact shadow from what hangs close above. Smooth, so worked out at output size.
    bg = _floor(size, supersample, ox, oy, scale, focal, cam, right, up, forward, lo[1],
                centre, radius, shadow, bias, pos, mesh.faces, glow is not None)
    out = bg
    out[mask] = shaded
    image = Image.fromarray((np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")
    return image.resize((size, size), Image.Resampling.BOX) if supersample > 1 else image


def _floor(size: int, ss: int, ox: float, oy: float, scale: float, focal: float,
           cam: np.ndarray, right: np.ndarray, up: np.ndarray, forward: np.ndarray,
           ground_y: float, centre: np.ndarray, radius: float, shadow: _ShadowMap,
           bias: float, pos: np.ndarray, faces: np.ndarray, dark: bool) -> np.ndarray:
    yy, xx = (np.mgrid[0:size, 0:size] + 0.5) * ss
    dirs = _unit(((xx - ox) / scale)[..., None] * right / focal
                 - ((yy - oy) / scale)[..., None] * up / focal + forward)
    hit = dirs[..., 1] < -1e-4
    t = np.where(hit, (ground_y - cam[1]) / np.where(hit, dirs[..., 1], -1), 0)
    ground = cam + dirs * t[..., None]
    key = np.zeros((size, size))
    key[hit] = 1 - shadow.lit(ground[hit], bias, radius=2.5)
    contact = np.zeros((size, size))
    contact[hit] = _contact(pos, faces, ground[hit], ground_y, radius)

    def blur(a: np.ndarray, r: float) -> np.ndarray:
        img = Image.fromarray((a * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(r))
        return np.asarray(img, dtype=np.float64) / 255.0

    fade = np.clip(1 - np.linalg.norm(ground - centre, axis=-1) / (radius * 3.0), 0, 1)
    occl = (0.38 * blur(key, size * 0.006) + 0.45 * blur(contact, size * 0.012)) * fade
    bg = _background(size, size, dark) * (1 - occl)[..., None]
    return np.repeat(np.repeat(bg.astype(np.float32), ss, axis=0), ss, axis=1)


def _contact(pos: np.ndarray, faces: np.ndarray, points: np.ndarray, ground_y: float,
             radius: float) -> np.ndarray:
    """Occlusion from straight above: strong where the lowest geometry over a floor point
    sits near the floor."""
    if len(points) == 0:
        return np.zeros(0)
    size = 512
    x0, z0 = pos[:, 0].min() - radius * 0.1, pos[:, 2].min() - radius * 0.1
    span = max(pos[:, 0].max() - x0, pos[:, 2].max() - z0) + radius * 0.1
    s = (size - 1) / span
    xy = np.stack([(pos[:, 0] - x0) * s, (pos[:, 2] - z0) * s], axis=-1)
    frame = rasterize(xy, -(pos[:, 1] - ground_y), faces, size, size, cull=False)
    lowest = -frame.near  # inf where nothing is above
    ix = ((points[:, 0] - x0) * s).astype(np.int64)
    iz = ((points[:, 2] - z0) * s).astype(np.int64)
    inside = (ix >= 0) & (ix < size) & (iz >= 0) & (iz < size)
    out = np.zeros(len(points))
    h = lowest[iz[inside], ix[inside]]
    out[inside] = np.where(np.isfinite(h), np.exp(-np.maximum(h, 0) / (radius * 0.12)), 0)
    return out
