"""Pixel art: a coarse grid of blocks in a small palette, scaled up with hard edges."""

from __future__ import annotations

from PIL import Image, ImageEnhance

COLOURS = 16
GRID = 64  # blocks along the long side when no pixel_size is given


def block_size(width: int, height: int, pixel_size: int | None) -> int:
    return pixel_size or max(2, round(max(width, height) / GRID))


def pixel_art(image: Image.Image, pixel_size: int | None = None) -> Image.Image:
    width, height = image.size
    block = block_size(width, height, pixel_size)
    grid = (max(1, -(-width // block)), max(1, -(-height // block)))
    # Box averaging picks each block's colour from all its pixels (no aliasing).
    small = image.resize(grid, Image.BOX)
    small = ImageEnhance.Contrast(ImageEnhance.Color(small).enhance(1.3)).enhance(1.1)
    small = small.quantize(COLOURS, method=Image.Quantize.MEDIANCUT, kmeans=3,
                           dither=Image.Dither.NONE).convert("RGB")
    # Scale up to whole blocks then cut to size, so every block is block x block pixels.
    big = small.resize((grid[0] * block, grid[1] * block), Image.NEAREST)
    return big.crop((0, 0, width, height))


def pixel_alpha(alpha: Image.Image, pixel_size: int | None = None) -> Image.Image:
    """The alpha channel on the same block grid, hard-edged."""
    width, height = alpha.size
    block = block_size(width, height, pixel_size)
    grid = (max(1, -(-width // block)), max(1, -(-height // block)))
    small = alpha.resize(grid, Image.BOX).point(lambda v: 255 if v >= 128 else 0)
    return small.resize((grid[0] * block, grid[1] * block), Image.NEAREST).crop(
        (0, 0, width, height))
