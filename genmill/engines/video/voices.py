"""Voice names: what `voice_name` may say, and which espeak-ng voice it means.

Accepted forms (case-insensitive):
- "auto": the language is detected from the script;
- a locale with an optional gender, the way Azure-style names are written:
  "en-US", "de-DE-female", "zh-CN-XiaoxiaoNeural-Female" (the middle part is ignored);
- an espeak-ng language id with an optional variant: "en-gb", "cmn", "fr+f2".

No library is loaded here (only the voice data folder is listed), so params validation
at submit time stays cheap.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

FEMALE, MALE = "f2", "m1"

# Locales whose espeak-ng id is not simply the lower-cased locale or its language.
_LOCALE_ALIASES = {
    "zh": "cmn", "zh-cn": "cmn", "zh-sg": "cmn", "zh-tw": "cmn", "zh-hans": "cmn",
    "zh-hant": "cmn", "zh-hk": "yue", "zh-mo": "yue", "en": "en-us", "en-gb": "en",
    "en-uk": "en", "es-mx": "es-419", "es-us": "es-419", "es-ar": "es-419", "es-co": "es-419",
    "pt-pt": "pt", "fr-fr": "fr", "fr-ca": "fr", "de-de": "de", "de-at": "de", "de-ch": "de",
    "es-es": "es", "it-it": "it", "ja-jp": "ja", "ko-kr": "ko", "ru-ru": "ru", "nl-nl": "nl",
    "nb": "nb", "no": "nb", "he": "he", "iw": "he", "fil": "tl",
}

# Published in the model's params schema (GET /v1/models): one per common language.
EXAMPLES = [
    "auto", "en-US-female", "en-US-male", "en-GB-female", "de-DE-female", "de-DE-male",
    "fr-FR-female", "fr-FR-male", "es-ES-female", "es-MX-male", "it-IT-female",
    "pt-BR-female", "nl-NL-male", "ru-RU-male", "zh-CN-female", "zh-CN-male",
    "zh-HK-female", "ja-JP-female", "ko-KR-female", "hi-IN-female", "ar-male",
]


@dataclass(frozen=True)
class Voice:
    language: str  # espeak-ng language id, e.g. "en-us", "cmn"
    variant: str = ""  # espeak-ng voice variant, e.g. "f2"

    @property
    def espeak_name(self) -> str:
        return f"{self.language}+{self.variant}" if self.variant else self.language


@dataclass(frozen=True)
class EspeakInstall:
    library: Path
    data_parent: Path  # the folder holding espeak-ng-data, as espeak_Initialize wants it


@cache
def espeak_install() -> EspeakInstall | None:
    """The espeak-ng library and data: the `espeakng-loader` wheel, else a system install."""
    try:
        import espeakng_loader
    except ImportError:
        espeakng_loader = None
    if espeakng_loader is not None:
        library = Path(espeakng_loader.get_library_path())
        data = Path(espeakng_loader.get_data_path())
        if library.exists() and data.is_dir():
            return EspeakInstall(library, data.parent)
    for pattern in ("/usr/lib/*/libespeak-ng.so.1", "/usr/lib/libespeak-ng.so.1",
                    "/usr/local/lib/libespeak-ng.so.1"):
        for library in sorted(glob.glob(pattern)):
            for data_parent in (Path(library).parent, Path("/usr/share"), Path("/usr/local/share")):
                if (data_parent / "espeak-ng-data" / "phontab").exists():
                    return EspeakInstall(Path(library), data_parent)
    return None


@cache
def languages() -> frozenset[str]:
    """espeak-ng language ids the installed voice data has (lower case)."""
    install = espeak_install()
    if install is None:
        return frozenset()
    root = install.data_parent / "espeak-ng-data" / "lang"
    found = set()
    for _dirpath, _dirs, files in os.walk(root):
        found.update(name.lower() for name in files)
    return frozenset(found)


@cache
def variants() -> frozenset[str]:
    install = espeak_install()
    if install is None:
        return frozenset()
    root = install.data_parent / "espeak-ng-data" / "voices" / "!v"
    return frozenset(p.name.lower() for p in root.iterdir()) if root.is_dir() else frozenset()


def _language_for_locale(locale: str) -> str | None:
    locale = locale.lower()
    available = languages()
    for candidate in (_LOCALE_ALIASES.get(locale), locale,
                      _LOCALE_ALIASES.get(locale.split("-")[0]), locale.split("-")[0]):
        if candidate and candidate in available:
            return candidate
    return None


def parse(name: str) -> Voice | None:
    """The voice `name` asks for; None for "auto". Raises ValueError for unknown names."""
    name = name.strip()
    if name.lower() in ("", "auto", "default"):
        return None
    if not languages():
        raise ValueError("no text-to-speech voice data is installed (espeak-ng)")
    base, _, variant = name.partition("+")
    if variant:
        if variant.lower() not in variants():
            raise ValueError(f"unknown voice variant {variant!r} in voice_name {name!r}")
        language = _language_for_locale(base)
        if language is None:
            raise ValueError(f"unknown voice language {base!r} in voice_name {name!r}")
        return Voice(language, variant.lower())
    parts = base.split("-")
    gender = ""
    if parts[-1].lower() in ("female", "male", "f", "m"):
        gender = FEMALE if parts.pop().lower().startswith("f") else MALE
    for size in range(min(len(parts), 3), 0, -1):  # "zh-Hant-TW", "zh-CN", "zh"
        language = _language_for_locale("-".join(parts[:size]))
        if language is not None:
            return Voice(language, gender)
    raise ValueError(
        f"unknown voice_name {name!r}: use 'auto', a locale such as 'en-US-female', "
        f"or an espeak-ng language id (e.g. {', '.join(sorted(EXAMPLES[1:6]))})"
    )


def for_text(requested: Voice | None, detected_language: str) -> Voice:
    """The voice to speak with: the one asked for, else the detected language's."""
    if requested is not None:
        return requested
    return Voice(_language_for_locale(detected_language) or "en-us", "")
