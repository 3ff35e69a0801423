"""What a title-card prompt says: the title, the subtitle, and the words that steer design.

`Sunset Sessions` sets that as the title. A prompt that quotes its text
(`a dark teal card that says "Welcome back"`) sets only the quoted part; the rest steers
colours and background without being drawn. A second line, or a second quote, is the
subtitle unless the `subtitle` param gives one. Pure string work: params validation
uses it at submit time.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_TITLE = 200
MAX_SUBTITLE = 400

_QUOTED = re.compile(r'"([^"]+)"|“([^”]+)”|„([^“”]+)[“”]|«([^»]+)»')


@dataclass(frozen=True)
class CardText:
    title: str
    subtitle: str
    hint: str  # words that steer palette and background


def clean(text: str) -> str:
    """NFC, invisible control and format characters dropped, runs of spaces collapsed."""
    text = unicodedata.normalize("NFC", text).replace("\t", " ")
    kept = "".join(
        c for c in text if c == "\n" or unicodedata.category(c) not in {"Cc", "Cf", "Co", "Cs"}
    )
    return "\n".join(" ".join(line.split()) for line in kept.split("\n")).strip()


def read_card_text(prompt: str, subtitle: str = "") -> CardText:
    prompt = clean(prompt)
    quoted = [next(g for g in m.groups() if g) for m in _QUOTED.finditer(prompt)]
    quoted = [clean(q) for q in quoted if clean(q)]
    if quoted:
        title = quoted[0].replace("\n", " ")
        sub = quoted[1] if len(quoted) > 1 else ""
        hint = _QUOTED.sub(" ", prompt)
    else:
        lines = [line for line in prompt.split("\n") if line.strip()]
        title = lines[0] if lines else ""
        sub = " ".join(lines[1:])
        hint = prompt
    return CardText(title, clean(subtitle).replace("\n", " ") or sub.replace("\n", " "), hint)


def check_prompt(prompt: str) -> str:
    """Params-time check: the prompt has a title and it fits on a card."""
    text = read_card_text(prompt)
    if not text.title:
        raise ValueError("the title card needs text: put the title in the prompt")
    if len(text.title) > MAX_TITLE:
        raise ValueError(
            f"the title is {len(text.title)} characters; a title card holds at most "
            f"{MAX_TITLE} (put the rest in the second line or the subtitle)"
        )
    if len(text.subtitle) > MAX_SUBTITLE:
        raise ValueError(
            f"the subtitle is {len(text.subtitle)} characters; at most {MAX_SUBTITLE}"
        )
    return prompt
