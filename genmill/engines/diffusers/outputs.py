"""Writing a pipeline's results with the project's encoders: PNGs, H.264 MP4 + poster,
GLB + STL + preview. A failed or canceled write leaves no partial file behind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from genmill.engines.image.output import save

VIDEO, POSTER = "video-1.mp4", "poster.jpg"
MESH_OUTPUTS = ["model.glb", "model.stl", "preview.png"]
MESH_SIZE_MM = 1000.0  # Shap-E draws in a unit box; one unit becomes one metre


def write_images(images: list[Image.Image], directory: Path, output_format: str) -> list[str]:
    return [save(image, directory, index, output_format) for index, image in enumerate(images)]


def write_video(frames: list[np.ndarray], directory: Path, fps: int,
                progress: Callable[[float], None], check_canceled: Callable[[], None]) -> list[str]:
    import av

    from genmill.engines.video.encode import Mp4Writer

    height, width = frames[0].shape[:2]
    # H.264 in yuv420p needs even sides; diffusion sizes are multiples of 8 already.
    width, height = width - width % 2, height - height % 2
    video, poster = directory / VIDEO, directory / POSTER
    writer = Mp4Writer(video, (width, height), fps)
    try:
        Image.fromarray(frames[0][:height, :width]).save(poster, quality=90)
        for index, frame in enumerate(frames):
            check_canceled()
            picture = np.ascontiguousarray(frame[:height, :width])
            writer.write_frame(av.VideoFrame.from_ndarray(picture, format="rgb24"))
            progress((index + 1) / len(frames))
        writer.close()
    except BaseException:
        writer.abort()
        poster.unlink(missing_ok=True)
        raise
    return [VIDEO, POSTER]


def write_mesh(decoded: Any, directory: Path, prompt: str) -> list[str]:
    """Shap-E's marching-cubes mesh (verts, faces, per-vertex RGB) as GLB, STL, preview."""
    from genmill.engines.base import InputError
    from genmill.engines.mesh.export import write_glb, write_stl
    from genmill.engines.mesh.materials import Material, srgb_to_linear
    from genmill.engines.mesh.meshdata import Mesh
    from genmill.engines.mesh.preview import render_preview

    positions = decoded.verts.detach().float().cpu().numpy().astype(np.float64) * MESH_SIZE_MM
    faces = decoded.faces.detach().cpu().numpy().astype(np.int64)
    if len(faces) == 0:
        raise InputError("the model produced an empty mesh (no surface in its volume)")
    mesh = Mesh(positions=positions, normals=_vertex_normals(positions, faces), faces=faces)
    channels = getattr(decoded, "vertex_channels", None) or {}
    rgb = [float(channels[c].float().mean()) if c in channels else 0.6 for c in "RGB"]
    material = Material(tuple(srgb_to_linear(min(max(c, 0.0), 1.0)) for c in rgb), 0.0, 0.5)
    write_glb(directory / MESH_OUTPUTS[0], mesh, material, None, prompt[:60])
    write_stl(directory / MESH_OUTPUTS[1], mesh)
    # One pass at 384 px: the studio renderer's 2x supersampled 1024 px costs more than a
    # small diffusion run.
    render_preview(mesh, material, size=384, supersample=1).save(directory / MESH_OUTPUTS[2],
                                                                 compress_level=6)
    return list(MESH_OUTPUTS)


def _vertex_normals(positions: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals (marching cubes shares vertices between faces)."""
    corners = positions[faces]
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = np.zeros_like(positions)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_normals)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.where(length > 0, normals / np.maximum(length, 1e-12), [0.0, 0.0, 1.0])
    return normals.astype(np.float32)
