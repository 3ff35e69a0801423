"""The `genmill/restyle-i2i` engine: the input image, fitted, restyled, blended.

Order: decode (size caps, EXIF orientation) -> fit to the asked size or aspect (at the
working size: for upscale, the output size divided by the factor) -> the style -> the
strength blend with the original -> the alpha channel put back -> encode.
"""

from __future__ import annotations

from PIL import Image

from genmill.engines.base import InputError, Inputs, RunContext
from genmill.engines.decode import MAX_PIXELS, open_image
from genmill.engines.image import output, sizing
from genmill.engines.image.cartoon import cartoon
from genmill.engines.image.fitting import fit
from genmill.engines.image.params import RestyleParams
from genmill.engines.image.pixel_art import pixel_alpha, pixel_art
from genmill.engines.image.sketch import pencil_sketch
from genmill.engines.image.style_words import scale_in
from genmill.engines.image.tones import duotone, duotone_colours, vintage
from genmill.engines.image.upscale import upscale

MAX_OUTPUT_PIXELS = MAX_PIXELS


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info)


def upright(image: Image.Image) -> Image.Image:
    """Any decoded mode as RGB, or RGBA when it has transparency (kept to the end)."""
    if _has_alpha(image):
        return image.convert("RGBA")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grey: scale, don't clip
        image = image.point(lambda v: v / 256).convert("L")
    return image.convert("RGB")


def plan(params: RestyleParams, size: tuple[int, int]) -> tuple[int, tuple[int, int],
                                                                  tuple[int, int]]:
    """(scale, working size, output size) for an input of `size`."""
    scale = (params.scale or scale_in(params.prompt) or 2) if params.style == "upscale" else 1
    if params.size:
        final = sizing.resolve_size(params.size, params.aspect_ratio)
        work = (max(1, round(final[0] / scale)), max(1, round(final[1] / scale)))
    else:
        work = size
        if params.aspect_ratio:
            work = sizing.aspect_box(*size, params.aspect_ratio, grow=params.fit == "pad")
        final = (work[0] * scale, work[1] * scale)
    if final[0] * final[1] > MAX_OUTPUT_PIXELS:
        raise InputError(
            f"the output would be {final[0]}x{final[1]} "
            f"({final[0] * final[1] / 1e6:.0f} MP); the limit is "
            f"{MAX_OUTPUT_PIXELS / 1e6:.0f} MP: use a smaller input, scale or size"
        )
    return scale, work, final


class RestyleEngine:
    def run(self, params: RestyleParams, inputs: Inputs, ctx: RunContext) -> list[str]:
        item = inputs.image
        if item is None:
            raise InputError("restyle needs an input image: send it as `image`")
        ctx.progress(0.02, "decoding the input image")
        source = upright(open_image(item))
        scale, work, final = plan(params, source.size)
        ctx.check_canceled()
        ctx.progress(0.15, f"fitting to {work[0]}x{work[1]}")
        fitted = fit(source, *work, params.fit)
        alpha = fitted.getchannel("A") if fitted.mode == "RGBA" else None
        rgb = fitted.convert("RGB")
        names = []
        for i in range(params.n):
            ctx.check_canceled()
            ctx.progress(0.2 + 0.75 * i / params.n, f"applying {params.style}")
            seed = (ctx.seed + i) % 2**32
            styled = self._style(params, rgb, final, seed, ctx)
            if params.strength < 1.0:
                original = rgb if rgb.size == final else rgb.resize(final, Image.LANCZOS)
                styled = Image.blend(original, styled, params.strength)
            if alpha is not None:
                styled.putalpha(self._alpha(params, alpha, final))
            names.append(output.save(styled, ctx.output_dir, i, params.output_format))
        ctx.progress(1.0, "done")
        return names

    @staticmethod
    def _style(params: RestyleParams, rgb: Image.Image, final: tuple[int, int], seed: int,
               ctx: RunContext) -> Image.Image:
        style = params.style
        if style == "upscale":
            return upscale(rgb, *final)
        if style == "cartoon":
            return cartoon(rgb, ctx.check_canceled)
        if style == "pencil-sketch":
            return pencil_sketch(rgb, seed, ctx.check_canceled)
        if style == "duotone":
            return duotone(rgb, *duotone_colours(params.colors, params.prompt, seed))
        if style == "pixel-art":
            return pixel_art(rgb, params.pixel_size)
        return vintage(rgb, seed)

    @staticmethod
    def _alpha(params: RestyleParams, alpha: Image.Image, final: tuple[int, int]) -> Image.Image:
        if params.style == "pixel-art":
            return pixel_alpha(alpha, params.pixel_size)
        if alpha.size != final:
            return upscale(alpha, *final)
        return alpha
