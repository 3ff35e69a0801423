"""The fonts title cards are set in, and which characters they can draw.

Noto Sans Display (titles) and Noto Sans (subtitles) come from pip packages, so a fresh
install has them with no system fonts. Both are variable fonts (weight 100-900, width
62.5-100) covering Latin, Greek and Cyrillic, including Vietnamese and the extended sets.
Coverage is read from the font's own `cmap` table so text it cannot draw is refused with
the characters named, instead of being drawn as boxes.
"""

from __future__ import annotations

import struct
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import ImageFont, features

from genmill.engines.base import InputError

SCRIPTS = "Latin, Greek and Cyrillic"


@dataclass(frozen=True)
class Face:
    """A font file plus the variation (weight, width) to set it at."""

    path: Path
    weight: int = 400
    width: float = 100.0


def _package_font(module: str, name: str) -> Path:
    package = __import__(module)
    return Path(package.ROOT) / "files" / name


@cache
def display_path() -> Path:
    return _package_font("fontpkg_noto_sans_display", "NotoSansDisplay[wdth,wght].ttf")


@cache
def text_path() -> Path:
    return _package_font("fontpkg_noto_sans", "NotoSans[wdth,wght].ttf")


def layout_engine() -> ImageFont.Layout:
    # Raqm (HarfBuzz) applies kerning and combining marks; basic layout still draws text.
    return ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC


@cache
def font(face: Face, size: int) -> ImageFont.FreeTypeFont:
    """The face at `size` pixels, with its weight and width axes set."""
    loaded = ImageFont.truetype(str(face.path), size, layout_engine=layout_engine())
    axes = [axis["name"] for axis in loaded.get_variation_axes()]
    values = {b"Weight": face.weight, b"Width": face.width}
    loaded.set_variation_by_axes([values.get(name, 100) for name in axes])
    return loaded


@cache
def coverage(path: Path) -> frozenset[int]:
    """The code points the font maps to a glyph (its cmap formats 4 and 12)."""
    data = path.read_bytes()
    num_tables = struct.unpack_from(">H", data, 4)[0]
    cmap = None
    for i in range(num_tables):
        tag, _, offset, _ = struct.unpack_from(">4sIII", data, 12 + 16 * i)
        if tag == b"cmap":
            cmap = offset
    if cmap is None:
        return frozenset()
    points: set[int] = set()
    count = struct.unpack_from(">H", data, cmap + 2)[0]
    for i in range(count):
        platform, encoding, sub = struct.unpack_from(">HHI", data, cmap + 4 + 8 * i)
        if (platform, encoding) not in {(3, 1), (3, 10), (0, 3), (0, 4)}:
            continue
        points |= _read_subtable(data, cmap + sub)
    return frozenset(points)


def _read_subtable(data: bytes, at: int) -> set[int]:
    fmt = struct.unpack_from(">H", data, at)[0]
    points: set[int] = set()
    if fmt == 4:
        segs = struct.unpack_from(">H", data, at + 6)[0] // 2
        ends = struct.unpack_from(f">{segs}H", data, at + 14)
        starts = struct.unpack_from(f">{segs}H", data, at + 16 + 2 * segs)
        deltas = struct.unpack_from(f">{segs}h", data, at + 16 + 4 * segs)
        range_at = at + 16 + 6 * segs
        offsets = struct.unpack_from(f">{segs}H", data, range_at)
        for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
            for code in range(start, end + 1):
                if code == 0xFFFF:
                    continue
                if offsets[i] == 0:
                    glyph = (code + deltas[i]) & 0xFFFF
                else:
                    where = range_at + 2 * i + offsets[i] + 2 * (code - start)
                    glyph = struct.unpack_from(">H", data, where)[0]
                    glyph = (glyph + deltas[i]) & 0xFFFF if glyph else 0
                if glyph:
                    points.add(code)
    elif fmt == 12:
        groups = struct.unpack_from(">I", data, at + 12)[0]
        for i in range(groups):
            start, end, glyph = struct.unpack_from(">III", data, at + 16 + 12 * i)
            if glyph:
                points.update(range(start, end + 1))
            else:  # the group's first code maps to .notdef; the rest to glyphs after it
                points.update(range(start + 1, end + 1))
    return points


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"{char!r} (U+{ord(char):04X}{' ' + name if name else ''})"


def check_drawable(text: str, *faces: Face) -> None:
    """Raise InputError naming the characters none of `faces` can draw (no tofu boxes)."""
    covered = frozenset().union(*(coverage(face.path) for face in faces))
    missing: list[str] = []
    for char in text:
        if char.isspace() or unicodedata.category(char) in {"Cf", "Cc"}:
            continue  # layout whitespace and invisible format marks draw as nothing
        if ord(char) not in covered and char not in missing:
            missing.append(char)
    if missing:
        shown = ", ".join(_describe(c) for c in missing[:12])
        more = f" and {len(missing) - 12} more" if len(missing) > 12 else ""
        raise InputError(
            f"the title font cannot draw {len(missing)} character(s): {shown}{more}; "
            f"it covers {SCRIPTS} text"
        )
