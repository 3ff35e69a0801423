"""The mesh every model builds: one vertex array set, split where normals or UVs differ.

Positions are in millimetres. Vertices that stand for the same point are built from the same
floats, so the STL (a triangle soup) closes exactly when its corners are merged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Mesh:
    positions: np.ndarray  # (n, 3) float64, mm
    normals: np.ndarray  # (n, 3) float32, unit length
    faces: np.ndarray  # (m, 3) int64, counter-clockwise seen from outside
    uvs: np.ndarray | None = None  # (n, 2) float32, glTF convention (v down)

    @property
    def triangle_count(self) -> int:
        return int(len(self.faces))

    def bounds(self) -> np.ndarray:
        return np.array([self.positions.min(axis=0), self.positions.max(axis=0)])


class MeshBuilder:
    """Appends parts (positions, normals, faces local to the part) into one mesh."""

    def __init__(self) -> None:
        self._pos: list[np.ndarray] = []
        self._nrm: list[np.ndarray] = []
        self._uv: list[np.ndarray] = []
        self._faces: list[np.ndarray] = []
        self._count = 0

    def add(
        self,
        positions: np.ndarray,
        normals: np.ndarray,
        faces: np.ndarray,
        uvs: np.ndarray | None = None,
    ) -> None:
        if len(faces) == 0:
            return
        self._pos.append(np.asarray(positions, dtype=np.float64).reshape(-1, 3))
        self._nrm.append(np.asarray(normals, dtype=np.float32).reshape(-1, 3))
        if uvs is None:
            uvs = np.zeros((len(self._pos[-1]), 2), dtype=np.float32)
        self._uv.append(np.asarray(uvs, dtype=np.float32).reshape(-1, 2))
        self._faces.append(np.asarray(faces, dtype=np.int64).reshape(-1, 3) + self._count)
        self._count += len(self._pos[-1])

    def build(self, with_uvs: bool) -> Mesh:
        normals = np.concatenate(self._nrm)
        length = np.linalg.norm(normals, axis=1, keepdims=True)
        normals = (normals / np.where(length > 0, length, 1.0)).astype(np.float32)
        return Mesh(
            positions=np.concatenate(self._pos),
            normals=normals,
            faces=np.concatenate(self._faces),
            uvs=np.concatenate(self._uv) if with_uvs else None,
        )
