"""Which language a script is written in: by its letters, then by common words.

Good enough to pick a voice: scripts (Han, kana, Cyrillic...) decide outright; Latin text
is scored on frequent short words and a few tell-tale letters.
"""

from __future__ import annotations

import re
import unicodedata

# espeak-ng language ids for scripts that name their language on their own.
_SCRIPT_LANGUAGE = [
    ("HIRAGANA", "ja"), ("KATAKANA", "ja"), ("HANGUL", "ko"), ("CJK", "cmn"),
    ("CYRILLIC", "ru"), ("GREEK", "el"), ("ARABIC", "ar"), ("HEBREW", "he"),
    ("DEVANAGARI", "hi"), ("BENGALI", "bn"), ("TAMIL", "ta"), ("THAI", "th"),
    ("GEORGIAN", "ka"), ("ARMENIAN", "hy"),
]

_COMMON_WORDS = {
    "en": "the and of to is in that it was for on are with as this be at by from you have",
    "de": "der die das und ist nicht ein eine zu den von mit sich des auf für im dem auch",
    "fr": "le la les et est des un une du que dans pour pas qui sur au avec ce il elle",
    "es": "el la los las y es de que en un una por con para del al se lo como más",
    "it": "il la che di e è un una per non sono con del della gli le nel si anche",
    "pt": "o a os as e é de que em um uma para com não do da dos se mais por",
    "nl": "de het een en is van dat niet op te zijn met voor er aan ook als",
}
_WORDS = {lang: set(words.split()) for lang, words in _COMMON_WORDS.items()}
_LETTER_HINTS = {"de": "äöüß", "fr": "çèêëàâœîôû", "es": "ñ¿¡áíóú", "pt": "ãõçâê", "it": "àèìòù"}
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def detect(text: str) -> str:
    """An espeak-ng language id for `text` ("en" when nothing points elsewhere)."""
    counts: dict[str, int] = {}
    for char in text:
        if not char.isalpha():
            continue
        name = unicodedata.name(char, "")
        for prefix, lang in _SCRIPT_LANGUAGE:
            if name.startswith(prefix):
                counts[lang] = counts.get(lang, 0) + 1
                break
        else:
            counts["latin"] = counts.get("latin", 0) + 1
    if not counts:
        return "en"
    # Japanese mixes kana with Han; any real share of kana makes it Japanese.
    if counts.get("ja", 0) >= max(2, counts.get("cmn", 0) // 10):
        return "ja"
    best = max(counts, key=lambda k: counts[k])
    if best != "latin":
        return best
    return _latin_language(text.lower())


def _latin_language(text: str) -> str:
    words = _WORD.findall(text)
    scores = {lang: sum(word in common for word in words) for lang, common in _WORDS.items()}
    for lang, letters in _LETTER_HINTS.items():
        scores[lang] += 2 * sum(text.count(letter) for letter in letters)
    best = max(scores, key=lambda k: scores[k])
    return best if scores[best] > 0 else "en"


def is_cjk(text: str) -> bool:
    """True when the text is mostly written without spaces between words."""
    dense = sum(1 for c in text if _is_dense(c))
    letters = sum(1 for c in text if c.isalpha())
    return letters > 0 and dense * 2 >= letters


def _is_dense(char: str) -> bool:
    name = unicodedata.name(char, "")
    return name.startswith(("CJK", "HIRAGANA", "KATAKANA", "THAI"))
