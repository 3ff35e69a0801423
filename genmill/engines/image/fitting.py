"""Meeting a requested size or aspect ratio: crop, pad or stretch."""

from __future__ import annotations

from PIL import Image, ImageEnhance, ImageFilter, ImageOps


def fit(image: Image.Image, width: int, height: int, mode: str) -> Image.Image:
    """`image` (RGB or RGBA) made exactly width x height.

    crop: scale to cover, cut the overflow evenly; pad: scale to fit inside and fill the
    rest (transparent for RGBA, else a blurred, dimmed copy of the image, which reads as
    intentional rather than as letterbox bars); stretch: scale each axis on its own.
    """
    if image.size == (width, height):
        return image
    if mode == "stretch":
        return image.resize((width, height), Image.LANCZOS)
    if mode == "crop":
        return ImageOps.fit(image, (width, height), Image.LANCZOS)
    inner = ImageOps.contain(image, (width, height), Image.LANCZOS)
    if image.mode == "RGBA":
        canvas = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    else:
        cover = ImageOps.fit(image, (max(1, width // 8), max(1, height // 8)), Image.BILINEAR)
        cover = cover.filter(ImageFilter.GaussianBlur(max(1.0, min(cover.size) / 12)))
        canvas = ImageEnhance.Brightness(cover.resize((width, height), Image.BICUBIC))
        canvas = canvas.enhance(0.7)
    canvas.paste(inner, ((width - inner.width) // 2, (height - inner.height) // 2))
    return canvas
