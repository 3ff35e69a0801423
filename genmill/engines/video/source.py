"""Turning an input picture into the canvas a camera path moves over.

The photo is scaled once, up front, to the size the tightest view needs (1:1 with the
output), so each frame only resamples a frame-sized box. A 4000x3000 photo becomes a
canvas of about 2200x1650 for 1080p, and the original is dropped.
"""

from __future__ import annotations

import math
from typing import Literal

from PIL import Image, ImageEnhance, ImageFilter

from genmill.engines.video.planes import Planes

Fit = Literal["cover", "fit"]
MAX_CANVAS_RATIO = 4.0  # a panorama keeps at most this many view widths of itself


def prepare(image: Image.Image, frame: tuple[int, int], zoom_max: float,
            fit: Fit = "cover") -> Planes:
    """The canvas for `frame` at `zoom_max`: its zoom-1 view (frame * zoom_max) is covered.

    cover: the image fills the view, its extra length kept for pans.
    fit: the whole image is shown, on a blurred, dimmed fill made from itself.
    """
    image = _rgb(image)
    cover_w = _even(frame[0] * zoom_max)
    cover_h = _even(frame[1] * zoom_max)
    if fit == "fit":
        canvas = _fit_on_blur(image, (cover_w, cover_h))
    else:
        scale = max(cover_w / image.width, cover_h / image.height)
        width = _even(max(image.width * scale, cover_w))
        height = _even(max(image.height * scale, cover_h))
        # Trim what no path could ever show: a very long panorama keeps its middle part.
        keep_w = min(width, _even(cover_w * MAX_CANVAS_RATIO))
        keep_h = min(height, _even(cover_h * MAX_CANVAS_RATIO))
        # The source region the canvas shows (even sizes round it up a hair; clamp that).
        src_w, src_h = min(image.width, keep_w / scale), min(image.height, keep_h / scale)
        x0, y0 = (image.width - src_w) / 2, (image.height - src_h) / 2
        box = (x0, y0, x0 + src_w, y0 + src_h)
        canvas = image.resize((keep_w, keep_h), Image.LANCZOS, box=box, reducing_gap=3.0)
    return Planes.from_rgb(canvas)


def _fit_on_blur(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    w, h = size
    cover = max(w / image.width, h / image.height)
    # The fill is made small, blurred and scaled up: cheap, and the blur hides the scaling.
    small = image.resize((max(8, round(image.width * cover / 8)),
                          max(8, round(image.height * cover / 8))), Image.BILINEAR,
                         reducing_gap=2.0)
    small = small.filter(ImageFilter.GaussianBlur(radius=max(w, h) / 8 / 40))
    fill = small.resize((max(w, math.ceil(image.width * cover)),
                         max(h, math.ceil(image.height * cover))), Image.BILINEAR)
    fill = fill.crop(((fill.width - w) // 2, (fill.height - h) // 2,
                      (fill.width - w) // 2 + w, (fill.height - h) // 2 + h))
    fill = ImageEnhance.Brightness(fill).enhance(0.55)
    contain = min(w / image.width, h / image.height)
    fg = image.resize((max(2, round(image.width * contain)), max(2, round(image.height * contain))),
                      Image.LANCZOS, reducing_gap=3.0)
    fill.paste(fg, ((w - fg.width) // 2, (h - fg.height) // 2))
    return fill


def _rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "P") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (0, 0, 0))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def _even(value: float) -> int:
    return max(2, 2 * math.ceil(value / 2))
