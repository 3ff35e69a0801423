"""The fonts every built-in engine draws text with, which characters they cover, and font
fallback per run of text.

Noto Sans Display (titles) and Noto Sans (body text, captions) come from pip packages:
variable fonts (weight 100-900, width 62.5-100) covering Latin, Greek and Cyrillic. Noto
Sans CJK Bold (the `cvttf-notosanscjk-bold` package, else Debian's fonts-noto-cjk) draws
Chinese, Japanese and Korean. A `Stack` is a primary face plus fallbacks: text is cut into
runs, each set in the first face that has its characters, so "AI 改变世界" sets "AI" in
Noto Sans and the Han characters in Noto Sans CJK. Coverage comes from the fonts' own cmap
tables (read by HarfBuzz), so text no face can draw is refused with the characters named
instead of being drawn as boxes.
"""

from __future__ import annotations

import glob
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import ImageDraw, ImageFont, features

SCRIPTS = "Latin, Greek, Cyrillic, Devanagari, Chinese, Japanese and Korean"
_SYSTEM_CJK = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
               "/usr/share/fonts/opentype/noto/NotoSansCJK-Black.ttc")


@dataclass(frozen=True)
class Face:
    """A font file plus the variation (weight, width) to set it at. Static fonts (the CJK
    one) ignore the variation."""

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


@cache
def cjk_path() -> Path | None:
    """Noto Sans CJK Bold: from its pip package, else a system copy; None if neither."""
    try:
        import cvttf_NotoSansCJK_Bold as package

        path = Path(package.get_TTF_path())
        if path.exists():
            return path
    except ImportError:
        pass
    for pattern in _SYSTEM_CJK:
        for found in glob.glob(pattern):
            return Path(found)
    return None


def layout_engine() -> ImageFont.Layout:
    # Raqm (HarfBuzz) applies kerning and combining marks; basic layout still draws text.
    return ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC


@cache
def font(face: Face, size: int) -> ImageFont.FreeTypeFont:
    """The face at `size` pixels, with its weight and width axes set if it has them."""
    loaded = ImageFont.truetype(str(face.path), size, layout_engine=layout_engine())
    try:
        axes = [axis["name"] for axis in loaded.get_variation_axes()]
    except OSError:  # a static font: nothing to set
        return loaded
    values = {b"Weight": face.weight, b"Width": face.width}
    loaded.set_variation_by_axes([values.get(name, 100) for name in axes])
    return loaded


@cache
def coverage(path: Path) -> frozenset[int]:
    """The code points the font maps to a glyph (its cmap, as HarfBuzz reads it)."""
    import uharfbuzz as hb

    return frozenset(hb.Face(hb.Blob.from_file_path(str(path))).unicodes)


def invisible(char: str) -> bool:
    """Characters that draw as nothing (spaces, format marks): any face will do."""
    return char.isspace() or unicodedata.category(char) in {"Cf", "Cc", "Mn", "Me"}


@dataclass(frozen=True)
class Stack:
    """A primary face and its fallbacks, tried in order for each character."""

    faces: tuple[Face, ...]

    @property
    def primary(self) -> Face:
        return self.faces[0]

    def face_for(self, char: str) -> Face | None:
        code = ord(char)
        for face in self.faces:
            if code in coverage(face.path):
                return face
        return None

    def runs(self, text: str) -> list[tuple[str, Face]]:
        """`text` cut into runs of one face each. Spaces and marks join the run they are
        in, so a Latin phrase stays one run (with its kerning) and a mark stays with its
        base letter."""
        runs: list[tuple[str, Face]] = []
        current: Face | None = None
        piece = ""
        for char in text:
            face = None if invisible(char) else self.face_for(char)
            if face is None:  # invisible, or missing (refused earlier): stay in this run
                face = current or self.primary
            if current is not None and face != current:
                runs.append((piece, current))
                piece = ""
            current = face
            piece += char
        if piece and current is not None:
            runs.append((piece, current))
        return runs

    def missing(self, text: str) -> list[str]:
        """The characters of `text` no face of the stack can draw, each once, in order."""
        found: list[str] = []
        for char in text:
            if not invisible(char) and char not in found and self.face_for(char) is None:
                found.append(char)
        return found


def _with_cjk(*faces: Face) -> Stack:
    cjk = cjk_path()
    return Stack(faces if cjk is None else (*faces, Face(cjk)))


def title_stack(weight: int = 760, width: float = 100.0) -> Stack:
    """Titles: Noto Sans Display, then Noto Sans (it adds Devanagari), then Noto Sans CJK."""
    return _with_cjk(Face(display_path(), weight, width), Face(text_path(), weight, width))


def text_stack(weight: int = 400) -> Stack:
    """Body text and captions: Noto Sans, then Noto Sans CJK."""
    return _with_cjk(Face(text_path(), weight))


def describe(chars: Iterable[str], limit: int = 12) -> str:
    """'X' (U+0058 LATIN CAPITAL LETTER X), ... for an error message."""
    chars = list(chars)
    shown = []
    for char in chars[:limit]:
        name = unicodedata.name(char, "")
        shown.append(f"{char!r} (U+{ord(char):04X}{' ' + name if name else ''})")
    more = f" and {len(chars) - limit} more" if len(chars) > limit else ""
    return ", ".join(shown) + more


def drawable_error(text: str, stack: Stack, what: str) -> str | None:
    """None if `stack` draws all of `text`; else a message naming what it cannot draw."""
    missing = stack.missing(text)
    if not missing:
        return None
    return (f"{what} has {len(missing)} character(s) no font can draw: {describe(missing)}; "
            f"the fonts cover {SCRIPTS} text")


# --- measuring and drawing text set in several faces --------------------------------------


def cjk_language(text: str) -> str:
    """The OpenType language for Han characters in `text`: the CJK font draws regional
    forms (a Simplified Chinese 。 sits low at the left, a Traditional one centred), so
    Japanese (any kana) and Korean (any Hangul) get theirs, and Chinese Simplified."""
    for char in text:
        name = unicodedata.name(char, "")
        if name.startswith(("HIRAGANA", "KATAKANA")):
            return "ja"
        if name.startswith("HANGUL"):
            return "ko"
    return "zh-Hans"


def _options(face: Face, text: str) -> dict:
    """Pillow text options for a run: the language, for the CJK face (needs Raqm)."""
    if face.path != cjk_path() or layout_engine() != ImageFont.Layout.RAQM:
        return {}
    return {"language": cjk_language(text)}


def length(text: str, stack: Stack, size: int) -> float:
    """Advance width of `text` in pixels, each run in its own face."""
    return sum(font(face, size).getlength(piece, **_options(face, text))
               for piece, face in stack.runs(text))


def _baseline_shift(stack: Stack, size: int, vertical: str) -> float:
    """From a Pillow vertical anchor to the baseline, by the primary face's metrics (so a
    line is placed the same whatever script it holds)."""
    primary = font(stack.primary, size)
    ascent, descent = primary.getmetrics()
    if vertical == "m":
        return (ascent - descent) / 2
    if vertical == "a":
        return ascent
    if vertical == "d":
        return -descent
    return 0.0  # "s": the baseline itself


def _start(text: str, stack: Stack, size: int, xy: tuple[float, float],
           anchor: str) -> tuple[float, float]:
    x, y = xy
    horizontal, vertical = anchor[0], anchor[1]
    if horizontal in "mr":
        width = length(text, stack, size)
        x -= width / 2 if horizontal == "m" else width
    return x, y + _baseline_shift(stack, size, vertical)


def bbox(text: str, stack: Stack, size: int, xy: tuple[float, float] = (0.0, 0.0),
         anchor: str = "ls") -> tuple[float, float, float, float]:
    """The ink box of `text` drawn at `xy` with `anchor` (as Pillow's getbbox)."""
    runs = stack.runs(text)
    if len(runs) == 1:  # one face: Pillow's own answer, kerning and all
        left, top, right, bottom = font(runs[0][1], size).getbbox(
            text, anchor=anchor, **_options(runs[0][1], text))
        return (xy[0] + left, xy[1] + top, xy[0] + right, xy[1] + bottom)
    x, y = _start(text, stack, size, xy, anchor)
    boxes = []
    for piece, face in runs:
        loaded, options = font(face, size), _options(face, text)
        if piece.strip():
            left, top, right, bottom = loaded.getbbox(piece, anchor="ls", **options)
            boxes.append((x + left, y + top, x + right, y + bottom))
        x += loaded.getlength(piece, **options)
    if not boxes:
        return (x, y, x, y)
    return (min(b[0] for b in boxes), min(b[1] for b in boxes),
            max(b[2] for b in boxes), max(b[3] for b in boxes))


def draw(canvas: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, stack: Stack,
         size: int, anchor: str = "ls", **options) -> None:  # type: ignore[no-untyped-def]
    """Draw `text` run by run (`options`: fill, stroke_width, stroke_fill)."""
    runs = stack.runs(text)
    if len(runs) == 1:
        canvas.text(xy, text, font=font(runs[0][1], size), anchor=anchor, **options,
                    **_options(runs[0][1], text))
        return
    x, y = _start(text, stack, size, xy, anchor)
    for piece, face in runs:
        loaded, language = font(face, size), _options(face, text)
        canvas.text((x, y), piece, font=loaded, anchor="ls", **options, **language)
        x += loaded.getlength(piece, **language)
