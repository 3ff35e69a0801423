"""When each caption chunk is spoken, and how a target duration is met.

Natural pacing: a short lead-in, each chunk's speech, a pause after it (longer at the end
of a sentence or paragraph), and a short tail. With a target `duration`:
- too long: the pauses shrink first (to half at most), then the speaking rate rises as
  much as needed, up to 1.6x the requested rate (the caller re-synthesizes at
  `speed_factor`); a script too long even then gives a video longer than the target;
- too short: the speaking rate drops a little (to 0.85x at most), the pauses grow (to
  2.5 s at most), and whatever is still missing becomes a longer ending.
Otherwise the video is exactly the target length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from genmill.engines.video.captions import Chunk, Cue

LEAD = 0.3
TAIL = 0.8
PAUSE_CLAUSE = 0.2
PAUSE_SENTENCE = 0.45
PAUSE_PARAGRAPH = 0.75
MAX_PAUSE = 2.5
MIN_PAUSE_SCALE = 0.5
FASTEST, SLOWEST = 1.6, 0.85
LONG_GAP = 1.5  # silence longer than this shows no caption


@dataclass(frozen=True)
class Timeline:
    starts: list[float]  # when each chunk's speech starts
    lengths: list[float]  # how long each chunk's speech lasts
    total: float  # video length, a whole number of frames
    cues: list[Cue]


def pause_after(chunk: Chunk) -> float:
    if chunk.ends_paragraph:
        return PAUSE_PARAGRAPH
    return PAUSE_SENTENCE if chunk.ends_sentence else PAUSE_CLAUSE


def natural_length(lengths: list[float], chunks: list[Chunk], intro: float = 0.0) -> float:
    return intro + LEAD + sum(lengths) + sum(pause_after(c) for c in chunks[:-1]) + TAIL


def speed_factor(lengths: list[float], chunks: list[Chunk], target: float | None,
                 intro: float = 0.0) -> float:
    """How much faster (>1) or slower (<1) to speak so the script fits `target` seconds."""
    if target is None:
        return 1.0
    target -= intro
    speech = sum(lengths)
    pauses = natural_length(lengths, chunks) - speech
    if speech <= 0:
        return 1.0
    if speech + pauses > target:
        room = max(target - LEAD - TAIL - MIN_PAUSE_SCALE * (pauses - LEAD - TAIL), 1e-3)
        return min(max(speech / room, 1.0), FASTEST)
    # Longer than natural: slow a little, and let the pauses take the rest.
    room = target - 1.6 * pauses
    return max(min(speech / room, 1.0), SLOWEST) if room > 0 else 1.0


def layout(lengths: list[float], chunks: list[Chunk], target: float | None, fps: int,
           intro: float = 0.0) -> Timeline:
    """Speech start times, video length and cues. `intro` seconds of title come first
    (no caption shows over them)."""
    pauses = [pause_after(c) for c in chunks[:-1]]
    tail = TAIL
    if target is not None:
        slack = target - (intro + LEAD + sum(lengths) + sum(pauses) + TAIL)
        total_pause = sum(pauses)
        if slack < 0 and total_pause > 0:
            scale = max(1.0 + slack / total_pause, MIN_PAUSE_SCALE)
            pauses = [p * scale for p in pauses]
        elif slack > 0:
            if pauses:
                room = sum(MAX_PAUSE - p for p in pauses)
                used = min(slack, room)
                pauses = [p + used * (MAX_PAUSE - p) / room for p in pauses] if room else pauses
                slack -= used
            tail += slack
    starts, t = [], intro + LEAD
    for i, length in enumerate(lengths):
        starts.append(t)
        t += length + (pauses[i] if i < len(pauses) else 0.0)
    end_of_speech = t
    total = math.ceil((end_of_speech + tail) * fps - 1e-6) / fps
    cues = _cues(starts, lengths, chunks, total, intro)
    return Timeline(starts, list(lengths), total, cues)


def _cues(starts: list[float], lengths: list[float], chunks: list[Chunk], total: float,
          intro: float) -> list[Cue]:
    """Each caption shows from its speech until the next one starts (captions follow one
    another with no gap), except across long silences; the first starts when the title
    intro ends (at 0 without one) and the last ends with the video."""
    cues = []
    for i, chunk in enumerate(chunks):
        start = intro if i == 0 else starts[i]
        spoken_end = starts[i] + lengths[i]
        following = starts[i + 1] if i + 1 < len(chunks) else total
        end = following if following - spoken_end <= LONG_GAP else spoken_end + LONG_GAP / 2
        cues.append(Cue(round(start, 3), round(end, 3), chunk.text))
    return cues
