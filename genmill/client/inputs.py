"""Input images: a local path or raw bytes travels as a `data:` URL; URLs pass through."""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path

_SIGNATURES = [
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
]
_URL_SCHEMES = ("http://", "https://", "data:")

ImageInput = str | bytes | Path


def sniff_mime(data: bytes) -> str:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for signature, mime in _SIGNATURES:
        if data.startswith(signature):
            return mime
    return "application/octet-stream"


def to_data_url(data: bytes, mime: str | None = None) -> str:
    return f"data:{mime or sniff_mime(data)};base64,{base64.b64encode(data).decode('ascii')}"


def image_value(image: ImageInput) -> str:
    """What goes in the request's `image` field."""
    if isinstance(image, bytes | bytearray):
        return to_data_url(bytes(image))
    if isinstance(image, str) and image.lower().startswith(_URL_SCHEMES):
        return image
    path = Path(image).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"image: no such file {str(path)!r} (nor an http(s)/data: URL)")
    data = path.read_bytes()
    sniffed = sniff_mime(data)
    if sniffed == "application/octet-stream":
        sniffed = mimetypes.guess_type(path.name)[0] or sniffed
    return to_data_url(data, sniffed)
