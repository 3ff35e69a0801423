"""Writers: glTF 2.0 binary (metres, metallic-roughness material, optional texture) and
binary STL (millimetres). Both stream numpy buffers straight to disk."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genmill.engines.mesh.materials import Material
from genmill.engines.mesh.meshdata import Mesh

_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_FLOAT, _UINT16, _UINT32 = 5126, 5123, 5125
_LINEAR, _LINEAR_MIPMAP_LINEAR, _CLAMP = 9729, 9987, 33071


@dataclass(frozen=True)
class Texture:
    data: bytes  # encoded PNG or JPEG
    mime_type: str


def _pad(data: bytes, fill: bytes) -> bytes:
    return data + fill * (-len(data) % 4)


def write_glb(
    path: Path, mesh: Mesh, material: Material, texture: Texture | None = None, name: str = ""
) -> None:
    positions = (mesh.positions / 1000.0).astype(np.float32)  # glTF's unit is the metre
    normals = mesh.normals.astype(np.float32)
    use_uv = texture is not None and mesh.uvs is not None
    index_type = _UINT16 if len(positions) < 65536 else _UINT32
    indices = mesh.faces.astype(np.uint16 if index_type == _UINT16 else np.uint32)

    chunks: list[bytes] = []
    views: list[dict] = []
    offset = 0

    def view(data: bytes, target: int | None) -> int:
        nonlocal offset
        entry: dict = {"buffer": 0, "byteOffset": offset, "byteLength": len(data)}
        if target is not None:
            entry["target"] = target
        views.append(entry)
        padded = _pad(data, b"\0")
        chunks.append(padded)
        offset += len(padded)
        return len(views) - 1

    accessors: list[dict] = [
        {
            "bufferView": view(positions.tobytes(), _ARRAY_BUFFER),
            "componentType": _FLOAT, "count": len(positions), "type": "VEC3",
            "min": positions.min(axis=0).tolist(), "max": positions.max(axis=0).tolist(),
        },
        {
            "bufferView": view(normals.tobytes(), _ARRAY_BUFFER),
            "componentType": _FLOAT, "count": len(normals), "type": "VEC3",
        },
    ]
    attributes = {"POSITION": 0, "NORMAL": 1}
    if use_uv:
        uvs = mesh.uvs.astype(np.float32)
        accessors.append({
            "bufferView": view(uvs.tobytes(), _ARRAY_BUFFER),
            "componentType": _FLOAT, "count": len(uvs), "type": "VEC2",
        })
        attributes["TEXCOORD_0"] = 2
    accessors.append({
        "bufferView": view(indices.tobytes(), _ELEMENT_ARRAY_BUFFER),
        "componentType": index_type, "count": int(indices.size), "type": "SCALAR",
    })

    pbr: dict = {
        "baseColorFactor": [*map(float, material.base_color), 1.0],
        "metallicFactor": float(material.metallic),
        "roughnessFactor": float(material.roughness),
    }
    gltf: dict = {
        "asset": {"version": "2.0", "generator": "genmill"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": name or "model"}],
        "meshes": [{
            "name": name or "model",
            "primitives": [{
                "attributes": attributes, "indices": len(accessors) - 1, "material": 0, "mode": 4,
            }],
        }],
        "materials": [{"name": "finish", "pbrMetallicRoughness": pbr, "doubleSided": False}],
        "accessors": accessors,
    }
    if use_uv:
        image_view = view(texture.data, None)
        gltf["images"] = [{"bufferView": image_view, "mimeType": texture.mime_type}]
        gltf["samplers"] = [{
            "magFilter": _LINEAR, "minFilter": _LINEAR_MIPMAP_LINEAR,
            "wrapS": _CLAMP, "wrapT": _CLAMP,
        }]
        gltf["textures"] = [{"sampler": 0, "source": 0}]
        pbr["baseColorTexture"] = {"index": 0, "texCoord": 0}
    if material.unlit:
        gltf["extensionsUsed"] = ["KHR_materials_unlit"]
        gltf["materials"][0]["extensions"] = {"KHR_materials_unlit": {}}
    gltf["bufferViews"] = views
    gltf["buffers"] = [{"byteLength": offset}]

    json_chunk = _pad(json.dumps(gltf, separators=(",", ":")).encode(), b" ")
    total = 12 + 8 + len(json_chunk) + 8 + offset
    with open(path, "wb") as f:
        f.write(struct.pack("<4sII", b"glTF", 2, total))
        f.write(struct.pack("<I4s", len(json_chunk), b"JSON"))
        f.write(json_chunk)
        f.write(struct.pack("<I4s", offset, b"BIN\0"))
        for chunk in chunks:
            f.write(chunk)


_STL_DTYPE = np.dtype([("normal", "<f4", (3,)), ("corners", "<f4", (3, 3)), ("attr", "<u2")])


def write_stl(path: Path, mesh: Mesh) -> None:
    """Binary STL in millimetres; facet normals from the (outward) winding."""
    corners = mesh.positions[mesh.faces].astype(np.float32)
    normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    length = np.linalg.norm(normal, axis=1, keepdims=True)
    records = np.zeros(len(corners), dtype=_STL_DTYPE)
    records["normal"] = normal / np.where(length > 0, length, 1.0)
    records["corners"] = corners
    header = b"genmill binary STL, units: millimetres".ljust(80, b" ")
    with open(path, "wb") as f:
        f.write(header)
        f.write(struct.pack("<I", len(records)))
        records.tofile(f)
