"""Script to captions: sentences, caption-sized chunks, cues, and SRT/WebVTT files."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from genmill.engines.common import linebreak
from genmill.engines.video.language import is_cjk

_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "no",
    "approx", "dept", "fig", "inc", "ltd", "mt", "u.s", "u.k", "z.b", "bzw", "usw", "sra",
    "mme", "mlle",
}
# A sentence ends at . ! ? … (then closing quotes/brackets and a space), or at CJK
# full-width end marks, which need no space after them.
_END = re.compile(r"([.!?…]+[\"'”’)\]]*)(\s+)|([。！？；]+[”’」』）]*)")
_CLAUSE = re.compile(r"[,;:，、；：]|\s[—–-]\s")


@dataclass(frozen=True)
class Chunk:
    """One caption's worth of a sentence; spoken on its own."""

    text: str
    sentence: int  # index of the sentence it belongs to
    ends_sentence: bool
    ends_paragraph: bool


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


def has_words(text: str) -> bool:
    return any(c.isalnum() for c in text)


def sentences(text: str) -> list[tuple[str, bool]]:
    """(sentence, ends a paragraph) pairs; line breaks always end a sentence."""
    found: list[tuple[str, bool]] = []
    for paragraph in re.split(r"\s*\n\s*", text.strip()):
        parts = _split_paragraph(paragraph)
        for i, part in enumerate(parts):
            found.append((part, i == len(parts) - 1))
    return [(s, end) for s, end in found if has_words(s)]


def _split_paragraph(paragraph: str) -> list[str]:
    paragraph = re.sub(r"\s+", " ", paragraph).strip()
    parts: list[str] = []
    start = 0
    for match in _END.finditer(paragraph):
        end = match.end(1) if match.group(1) else match.end(3)
        candidate = paragraph[start:end].strip()
        if match.group(1) and match.group(1).startswith(".") and _is_abbreviation(candidate):
            continue
        if candidate:
            parts.append(candidate)
        start = match.end()
    tail = paragraph[start:].strip()
    if tail:
        parts.append(tail)
    return parts


def _is_abbreviation(candidate: str) -> bool:
    word = candidate[:-1].rsplit(" ", 1)[-1].lower().strip("\"'(")
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def chunks(text: str, max_chars: int) -> list[Chunk]:
    """The script as caption chunks of at most about `max_chars` characters."""
    out: list[Chunk] = []
    for index, (sentence, paragraph_end) in enumerate(sentences(text)):
        pieces = _split_long(sentence, max_chars)
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            out.append(Chunk(piece, index, last, last and paragraph_end))
    return out


def _split_long(text: str, max_chars: int) -> list[str]:
    if len(text) <= max_chars:
        return [text]
    middle = len(text) / 2
    # Prefer a clause break near the middle; else a word boundary: a space, or between
    # words of Chinese or Japanese (never inside a word: "大脑" is not cut into 大 / 脑).
    cuts = [m.end() for m in _CLAUSE.finditer(text) if 0.25 < m.end() / len(text) < 0.8]
    if not cuts:
        if is_cjk(text):
            cuts = _word_boundaries(text) or [round(middle)]
        else:
            cuts = [m.start() for m in re.finditer(r" ", text)] or [round(middle)]
    cut = min(cuts, key=lambda c: abs(c - middle))
    head, tail = text[:cut].strip(), text[cut:].strip()
    if not head or not tail:
        return [text]
    return _split_long(head, max_chars) + _split_long(tail, max_chars)


def _word_boundaries(text: str) -> list[int]:
    """Offsets in `text` where a line may break between words (see `linebreak`)."""
    parts = linebreak.pieces(text)
    if linebreak.join(parts) != text:  # irregular spacing: offsets would not line up
        return []
    offsets, at = [], 0
    for part in parts[:-1]:
        at += len(part.text) + (1 if part.spaced and at else 0)
        offsets.append(at)
    return offsets


def _timestamp(seconds: float, separator: str) -> str:
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{separator}{ms:03d}"


def write_srt(cues: list[Cue], path: Path) -> None:
    blocks = [f"{i}\n{_timestamp(c.start, ',')} --> {_timestamp(c.end, ',')}\n{c.text}\n"
              for i, c in enumerate(cues, 1)]
    path.write_text("\n".join(blocks), encoding="utf-8")


def write_vtt(cues: list[Cue], path: Path) -> None:
    blocks = [f"{_timestamp(c.start, '.')} --> {_timestamp(c.end, '.')}\n{c.text}\n"
              for c in cues]
    path.write_text("WEBVTT\n\n" + "\n".join(blocks), encoding="utf-8")
