"""Writing output images: names in order, the asked format, deterministic bytes."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

EXTENSIONS = {"png": "png", "jpeg": "jpeg", "webp": "webp"}


def output_name(index: int, output_format: str) -> str:
    """`image-1.png`, `image-2.jpeg`, ...: 1-based, in the order the task lists them."""
    return f"image-{index + 1}.{EXTENSIONS[output_format]}"


def save(image: Image.Image, directory: Path, index: int, output_format: str) -> str:
    """Encode `image` into `directory`; returns the file name. JPEG has no alpha, so a
    transparent image is laid on white for it."""
    name = output_name(index, output_format)
    if output_format == "jpeg":
        if image.mode in ("RGBA", "LA"):
            flat = Image.new("RGB", image.size, (255, 255, 255))
            flat.paste(image, mask=image.getchannel("A"))
            image = flat
        image.convert("RGB").save(directory / name, "JPEG", quality=92, subsampling=0)
    elif output_format == "webp":
        image.save(directory / name, "WEBP", quality=90, method=4)
    else:
        image.save(directory / name, "PNG", compress_level=6)
    return name
