"""Input images at submit time: `data:` URLs are decoded and checked now (a bad one is a
400), http(s) URLs are checked for form and fetched later by the worker."""

from __future__ import annotations

import base64
import binascii
import io
import ipaddress
import re
import warnings
from dataclasses import dataclass
from urllib.parse import urlsplit

from genmill.core.errors import InvalidRequest

MAX_INPUT_BYTES = 20 * 1024 * 1024
MAX_INPUT_PIXELS = 40_000_000
_DATA_URL = re.compile(
    r"^data:(?P<type>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+=[\w.+-]+)*)(?P<b64>;base64)?,",
    re.I,
)
_EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif", "BMP": "bmp",
               "TIFF": "tiff", "MPO": "jpg"}


@dataclass(frozen=True)
class InlineImage:
    data: bytes
    content_type: str
    extension: str


def decode_data_url(value: str, field: str) -> InlineImage:
    match = _DATA_URL.match(value)
    if not match:
        raise InvalidRequest(f"{field}: malformed data URL", field)
    payload = value[match.end():]
    if not match.group("b64"):
        raise InvalidRequest(f"{field}: data URLs must be base64-encoded", field)
    if len(payload) * 3 // 4 > MAX_INPUT_BYTES:
        raise InvalidRequest(f"{field}: image is over {MAX_INPUT_BYTES} bytes", field)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"{field}: data URL is not valid base64", field) from None
    return check_image_bytes(data, field)


def check_image_bytes(data: bytes, field: str) -> InlineImage:
    """Identify the image from its header; refuse bombs before any pixel is decoded."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_INPUT_BYTES:
        raise InvalidRequest(f"{field}: image is over {MAX_INPUT_BYTES} bytes", field)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            fmt = image.format or ""
            if width * height > MAX_INPUT_PIXELS:
                raise InvalidRequest(
                    f"{field}: image is {width}x{height}; the limit is "
                    f"{MAX_INPUT_PIXELS // 1_000_000} megapixels", field)
            image.verify()  # walks the file's structure: catches truncation and corruption
    except InvalidRequest:
        raise
    except Image.DecompressionBombError:
        # Pillow refuses to even open an image over twice its own pixel limit.
        raise InvalidRequest(
            f"{field}: image is over the {MAX_INPUT_PIXELS // 1_000_000}-megapixel limit",
            field) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InvalidRequest(f"{field}: not a decodable image (PNG, JPEG, WebP, GIF...)",
                             field) from None
    ext = _EXTENSIONS.get(fmt, fmt.lower() or "bin")
    return InlineImage(data, Image.MIME.get(fmt, "application/octet-stream"), ext)


# IPv6 prefixes that carry an IPv4 address a translator or tunnel may deliver to:
# NAT64 (RFC 6052, the last 32 bits) and IPv4-compatible addresses (RFC 4291, deprecated).
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: the IPv4 sits anywhere
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses an IPv6 address hands traffic on to, [] when it embeds none,
    None when it is a translation prefix whose embedded address cannot be told."""
    found = []
    if ip.ipv4_mapped:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour:  # 2002::/16
        found.append(ip.sixtofour)
    if ip.teredo:  # 2001::/32: (server, client), the client already de-obfuscated
        found.extend(ip.teredo)
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip in _NAT64_LOCAL:
        return None
    return found


def is_public_address(address: str) -> bool:
    """Global unicast only: not loopback, private, link-local, multicast or reserved,
    nor an IPv6 address that embeds such an IPv4 address (NAT64, 6to4, Teredo...)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = embedded_ipv4(ip)
        if embedded is None:
            return False
        if embedded and not all(_is_global(v4) for v4 in embedded):
            return False
        if embedded and not ip.teredo:  # the IPv4 address is where it goes
            return True
    return _is_global(ip)


def _is_global(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not ip.is_multicast


def check_remote_url(value: str, field: str, allow_private: bool) -> str:
    """Form checks only; the worker re-checks every address the name resolves to."""
    try:
        parts = urlsplit(value)
    except ValueError:
        raise InvalidRequest(f"{field}: not a valid URL", field) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(f"{field}: must be an http(s) URL or a data: URL", field)
    if not allow_private:
        try:
            public = is_public_address(parts.hostname)
        except ValueError:
            public = True  # a name: its addresses are checked when it is fetched
        if not public:
            raise InvalidRequest(f"{field}: URLs of private or local addresses are refused", field)
        host = parts.hostname.lower()
        if host == "localhost" or host.endswith(".localhost"):
            raise InvalidRequest(f"{field}: URLs of private or local addresses are refused", field)
    return value
