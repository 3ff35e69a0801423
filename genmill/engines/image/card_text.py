"""What a title-card prompt says: the title, the subtitle, and the words that steer design.

`Sunset Sessions` sets that as the title. A prompt that quotes its text
(`a dark teal card that says "Welcome back"`) sets only the quoted part; the rest steers
colours and background without being drawn. A second line, or a second quote, is the
subtitle unless the `subtitle` param gives one. A quotation keeps its quote marks and
its attribution (`"Knowledge is power." — Francis Bacon`, the dash on the same line or
the next): the attribution becomes the subtitle. Pure string work: params validation
uses it at submit time.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_TITLE = 200
MAX_SUBTITLE = 400

_QUOTED = re.compile(r'"([^"]+)"|“([^”]+)”|„([^“”]+)[“”]|«([^»]+)»|「([^」]+)」|『([^』]+)』')
# Marks each quote style is set back with when the quotation keeps them.
_MARKS = [("“", "”"), ("“", "”"), ("„", "“"), ("«", "»"), ("「", "」"), ("『", "』")]
# An attribution after a quotation: a dash (em, en, two hyphens, Chinese "——") and a name.
_ATTRIBUTION = re.compile(r"^\s*((?:——|[—―–~]|--?)\s*\S.*?)\s*$", re.S)
_SENTENCE_END = tuple(".!?…。！？")
# Words of an image description (medium, render, camera): a title card sets text, it
# does not paint, so an unquoted prompt with these is refused with what the model does.
_SCENE = re.compile(
    r"\b(?:oil|watercolou?r|acrylic) painting\b|\b(?:a |an )?(?:photo|photograph|picture|"
    r"painting|drawing|illustration|render(?:ing)?|image) of\b|\bphoto-?realistic\b|"
    r"\bhyper-?realistic\b|\bhighly detailed\b|\b[48]k\b|\bdigital art\b|\bconcept art\b|"
    r"\bartstation\b|\boctane render\b|\bunreal engine\b|\bcinematic lighting\b|"
    r"\bstudio lighting\b|\bbokeh\b|\bdepth of field\b|\bmasterpiece\b|\bbest quality\b|"
    r"\bfloating (?:above|over|in)\b",
    re.I)


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
    matches = [m for m in _QUOTED.finditer(prompt)
               if clean(next(g for g in m.groups() if g))]
    if matches:
        quoted = [clean(next(g for g in m.groups() if g)) for m in matches]
        title = quoted[0].replace("\n", " ")
        sub = quoted[1] if len(quoted) > 1 else ""
        after = prompt[matches[-1].end():]
        attribution = _ATTRIBUTION.match(after)
        before = prompt[:matches[0].start()]
        hint = _QUOTED.sub(" ", prompt[:matches[-1].end()])
        if attribution:
            # typewriter dashes ("--", "-", "~") are set as the em dash they stand for
            line = re.sub(r"^(?:--?|~)\s*", "— ", " ".join(attribution.group(1).split()))
            sub = sub or line
        else:
            hint += " " + after
        # A quotation (the prompt is the quote, with an attribution or as a sentence)
        # keeps its marks; a quote inside a description ("a card that says ...") does not.
        bare = not before.strip() and len(matches) == 1
        if bare and (attribution or title.endswith(_SENTENCE_END)):
            index = next(i for i, g in enumerate(matches[0].groups()) if g)
            opening, closing = _MARKS[index]
            title = f"{opening}{title}{closing}"
        hint = hint.strip()
    else:
        lines = [line for line in prompt.split("\n") if line.strip()]
        title = lines[0] if lines else ""
        sub = " ".join(lines[1:])
        hint = prompt
    return CardText(title, clean(subtitle).replace("\n", " ") or sub.replace("\n", " "), hint)


def scene_words(prompt: str) -> str | None:
    """The words that make an unquoted prompt read as a picture to paint, if any."""
    if _QUOTED.search(prompt):
        return None
    found = _SCENE.search(prompt)
    return found.group(0) if found else None


def check_prompt(prompt: str) -> str:
    """Params-time check: the prompt has a title and it fits on a card."""
    text = read_card_text(prompt)
    if not text.title:
        raise ValueError("the title card needs text: put the title in the prompt")
    scene = scene_words(prompt)
    if scene:
        raise ValueError(
            f"this model sets the prompt's text on a designed card; it does not paint "
            f"pictures, and the prompt reads like one ({scene!r}). Send the words to show "
            f"(\"Sunset Sessions\"), or quote them with colour and mood words around: "
            f"a dark teal card that says \"Welcome back\"")
    if len(text.title) > MAX_TITLE:
        raise ValueError(
            f"the title is {len(text.title)} characters; a title card holds at most "
            f"{MAX_TITLE} (put the rest in the second line or the subtitle)"
        )
    if len(text.subtitle) > MAX_SUBTITLE:
        raise ValueError(
            f"the subtitle is {len(text.subtitle)} characters; at most {MAX_SUBTITLE}"
        )
    from genmill.engines.common.title_card import drawable_error  # fonts: loaded on use

    error = drawable_error(text.title, text.subtitle)
    if error:
        raise ValueError(error)
    return prompt
