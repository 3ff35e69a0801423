"""Opening input images safely: size caps before decoding, orientation, clear errors."""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from genmill.engines.base import InputError, InputFile

MAX_PIXELS = 40_000_000
MAX_BYTES = 20 * 1024 * 1024


def open_image(item: InputFile, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode an input image fully, upright (EXIF orientation applied).

    Refuses files over 20 MB and images over 40 megapixels from the header alone, before
    the pixels are decoded, so a decompression bomb costs nothing.
    """
    if len(item.data) > MAX_BYTES:
        raise InputError(f"input image is {len(item.data)} bytes; the limit is {MAX_BYTES}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(item.data))
            width, height = image.size
            if width * height > max_pixels:
                raise InputError(
                    f"input image is {width}x{height} ({width * height / 1e6:.1f} MP); "
                    f"the limit is {max_pixels / 1e6:.0f} MP"
                )
            image.load()
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError(
            f"input image from {item.source} is not a decodable image "
            f"(content type {item.content_type or 'unknown'})"
        ) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise InputError(f"input image from {item.source} could not be decoded: {exc}") from None
    return ImageOps.exif_transpose(image)
