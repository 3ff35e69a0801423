"""Cartoon: flat colour regions from a small palette, with dark ink outlines.

Regions come from a smoothed, slightly more saturated copy quantised to a few colours
(k-means refined median cut) at a reduced size, then scaled up and mapped to the same
palette at full size, so region borders are smooth curves rather than upscaled stairs.
Outlines are a difference-of-Gaussians line map, thickened a little.
"""

from __future__ import annotations

from PIL import Image, ImageEnhance, ImageFilter

from genmill.engines.image.edges import dog_lines

COLOURS = 16
INK = (24, 20, 28)
_WORK_SIDE = 768  # regions are found at this long side: smoothing there is cheap


def cartoon(image: Image.Image, check=lambda: None) -> Image.Image:
    width, height = image.size
    scale = min(1.0, _WORK_SIDE / max(width, height))
    small = image.resize((max(1, round(width * scale)), max(1, round(height * scale))),
                         Image.BOX) if scale < 1 else image
    small = ImageEnhance.Color(small).enhance(1.35)
    small = small.filter(ImageFilter.MedianFilter(5)).filter(ImageFilter.MedianFilter(5))
    check()
    palette = small.quantize(COLOURS, method=Image.Quantize.MEDIANCUT, kmeans=4,
                             dither=Image.Dither.NONE)
    # the most common colour around each pixel: removes speckles, keeps region borders
    flat = palette.convert("RGB").filter(ImageFilter.ModeFilter(5))
    if scale < 1:
        flat = flat.resize((width, height), Image.BICUBIC)
    regions = flat.quantize(palette=palette, dither=Image.Dither.NONE).convert("RGB")
    check()
    # Lines come from the median-smoothed copy, so noise and fine texture draw no ink.
    smooth = small.convert("L")
    if scale < 1:
        smooth = smooth.resize((width, height), Image.BICUBIC)
    sigma = max(1.0, max(width, height) / 900)
    lines = dog_lines(smooth, sigma, threshold=2.5)
    mask = Image.fromarray(lines.astype("uint8") * 255, "L")
    if sigma > 1.5:  # keep outlines in proportion on large images
        mask = mask.filter(ImageFilter.MaxFilter(3))
    regions.paste(INK, mask=mask)
    return regions
