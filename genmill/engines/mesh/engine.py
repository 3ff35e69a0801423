"""The two engines: steps, progress and cancel checks around the geometry modules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from pydantic import BaseModel

from genmill.engines.base import InputError, Inputs, RunContext
from genmill.engines.mesh import materials
from genmill.engines.mesh.export import Texture, write_glb, write_stl
from genmill.engines.mesh.meshdata import Mesh
from genmill.engines.mesh.params import ReliefParams, TextParams
from genmill.engines.mesh.preview import render_preview

OUTPUTS = ["model.glb", "model.stl", "preview.png"]
PREVIEW_FACES = 400_000  # enough for a 1024 px shot; bigger meshes get a coarser twin


def _write(
    ctx: RunContext,
    mesh: Mesh,
    material: materials.Material,
    texture: Texture | None,
    name: str,
    preview_mesh: Mesh,
    preview_material: materials.Material,
    preview_texture: Image.Image | None = None,
    glow: np.ndarray | None = None,
) -> list[str]:
    out = Path(ctx.output_dir)
    ctx.check_canceled()
    ctx.progress(0.55, "writing model.glb")
    write_glb(out / OUTPUTS[0], mesh, material, texture, name)
    ctx.check_canceled()
    ctx.progress(0.65, "writing model.stl")
    write_stl(out / OUTPUTS[1], mesh)
    ctx.check_canceled()
    ctx.progress(0.75, "rendering preview.png")
    image = render_preview(preview_mesh, preview_material, preview_texture, glow)
    ctx.check_canceled()
    image.save(out / OUTPUTS[2], compress_level=6)
    ctx.progress(1.0, "done")
    return list(OUTPUTS)


class TextEngine:
    """`genmill/text3d-text-to-3d`."""

    def run(self, params: BaseModel, inputs: Inputs, ctx: RunContext) -> list[str]:
        from genmill.engines.mesh.glyphs import missing_glyphs
        from genmill.engines.mesh.lettering import lettering_mesh

        assert isinstance(params, TextParams)
        text = params.lettering()
        missing = missing_glyphs(text, params.font_weight)
        if missing:
            raise InputError(
                "text has characters with no glyph in the font: "
                + ", ".join(f"{c!r} (U+{ord(c):04X})" for c in missing)
            )
        ctx.progress(0.05, "setting the text")
        mesh = lettering_mesh(
            text,
            weight=params.font_weight,
            align=params.align,
            line_spacing=params.line_spacing,
            width_mm=params.width_mm,
            height_mm=params.height_mm,
            depth=params.depth,
            bevel=params.bevel,
            segments=params.bevel_segments,
            face_limit=params.face_limit,
            check=ctx.check_canceled,
        )
        ctx.progress(0.45, f"extruded {mesh.triangle_count} triangles")
        material = materials.resolve(
            params.style_words(), params.color, params.metallic, params.roughness,
            texture_enable=params.texture_enable, pbr_enable=params.pbr_enable,
        )
        return _write(ctx, mesh, material, None, "lettering", mesh, material)


class ReliefEngine:
    """`genmill/relief-image-to-3d`."""

    def run(self, params: BaseModel, inputs: Inputs, ctx: RunContext) -> list[str]:
        from genmill.engines.decode import open_image
        from genmill.engines.mesh import relief

        assert isinstance(params, ReliefParams)
        item = inputs.image
        if item is None:
            raise InputError("this model needs an input `image`")
        ctx.progress(0.02, "decoding the image")
        source = open_image(item)
        luma, alpha, flat = relief.load_image(source)
        ctx.check_canceled()
        low, high = params.thickness_range()
        width_mm = params.width_mm
        height_mm = width_mm * source.height / source.width

        def build(limit: int) -> Mesh:
            cols, rows = relief.grid_size(source.width, source.height, limit)
            t = relief.tone_map(luma, alpha, params.mode, params.invert, cols, rows)
            t = relief.add_border(t, params.border, width_mm / (cols - 1), height_mm / (rows - 1))
            ctx.check_canceled()
            return relief.heightfield_mesh(low + (high - low) * t, width_mm, height_mm,
                                           ctx.check_canceled)

        ctx.progress(0.1, "building the heightfield")
        mesh = build(params.face_limit)
        ctx.progress(0.45, f"built {mesh.triangle_count} triangles")
        preview_mesh = mesh if mesh.triangle_count <= PREVIEW_FACES else build(PREVIEW_FACES)
        lithophane = params.mode == "lithophane"
        material = materials.resolve(
            params.prompt, params.color, params.metallic, params.roughness,
            texture_enable=params.texture_enable, pbr_enable=params.pbr_enable,
            textured=params.texture_enable, default_roughness=0.55,
        )
        texture = relief.texture_of(flat, source) if params.texture_enable else None
        glow = None
        preview_texture = flat if params.texture_enable else None
        if lithophane:
            # Lit from behind, a lithophane shows its picture as light through the plastic:
            # thinner is brighter (roughly exponential in thickness).
            z = preview_mesh.positions[:, 2]
            facing = preview_mesh.normals[:, 2] > 0.2
            glow = np.where(facing, np.exp(-4.0 * (z - low) / (high - low)), 0.0)
            preview_texture = None
            material_preview = materials.Material((0.8, 0.78, 0.74), 0.0, 0.6)
        else:
            material_preview = material
        return _write(ctx, mesh, material, texture, params.mode, preview_mesh,
                      material_preview, preview_texture, glow)
