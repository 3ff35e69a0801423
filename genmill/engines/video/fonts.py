"""Caption fonts: Noto Sans (the image models' font package) at a heavy weight for Latin,
Greek and Cyrillic; Noto Sans CJK Bold (the `cvttf-notosanscjk-bold` package, or Debian's
fonts-noto-cjk) for Chinese, Japanese and Korean. Each caption uses the first font that
can draw all of it."""

from __future__ import annotations

import glob
import unicodedata
from functools import cache
from pathlib import Path

from PIL import ImageFont

from genmill.engines.image import fonts as image_fonts

CAPTION_WEIGHT = 800
_SYSTEM_CJK = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
               "/usr/share/fonts/opentype/noto/NotoSansCJK-Black.ttc",
               "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")


@cache
def cjk_path() -> Path | None:
    try:
        import cvttf_NotoSansCJK_Bold as package

        return Path(package.get_TTF_path())
    except (ImportError, FileNotFoundError):
        pass
    for pattern in _SYSTEM_CJK:
        for found in glob.glob(pattern):
            return Path(found)
    return None


def _faces() -> list[image_fonts.Face]:
    faces = [image_fonts.Face(image_fonts.text_path(), weight=CAPTION_WEIGHT)]
    cjk = cjk_path()
    if cjk is not None:
        faces.append(image_fonts.Face(cjk))
    return faces


def _drawable(text: str, face: image_fonts.Face) -> bool:
    covered = image_fonts.coverage(face.path)
    return all(ord(c) in covered for c in text
               if not c.isspace() and unicodedata.category(c) not in ("Cf", "Cc"))


@cache
def _load(face: image_fonts.Face, size: int) -> ImageFont.FreeTypeFont:
    if face.path.suffix.lower() in (".otf", ".ttc") and face.path != image_fonts.text_path():
        return ImageFont.truetype(str(face.path), size, layout_engine=image_fonts.layout_engine())
    return image_fonts.font(face, size)


def caption_font(text: str, size: int) -> ImageFont.FreeTypeFont:
    """The first caption font that draws every character of `text` (else the first)."""
    faces = _faces()
    for face in faces:
        if _drawable(text, face):
            return _load(face, size)
    return _load(faces[-1], size)
