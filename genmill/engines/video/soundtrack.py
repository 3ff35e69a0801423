"""The narration track: speech placed on the timeline, levelled, and an optional music bed."""

from __future__ import annotations

import random

import numpy as np

PEAK = 0.7  # speech is normalised to this peak before `voice_volume` applies
LIMIT = 0.8  # above this a soft knee keeps loud settings from clipping


def narration(clips: list[np.ndarray], starts: list[float], total: float, rate: int,
              volume: float) -> np.ndarray:
    """Speech clips at their start times in a silent track `total` seconds long."""
    track = np.zeros(int(round(total * rate)), np.float32)
    for clip, start in zip(clips, starts, strict=True):
        at = int(round(start * rate))
        piece = clip[: max(len(track) - at, 0)]
        track[at:at + len(piece)] += piece
    peak = float(np.abs(track).max()) if track.size else 0.0
    if peak > 0:
        track *= PEAK / peak * volume
    return soft_limit(track)


def soft_limit(track: np.ndarray) -> np.ndarray:
    over = np.abs(track) > LIMIT
    if over.any():
        excess = np.abs(track[over]) - LIMIT
        track[over] = np.sign(track[over]) * (LIMIT + (1 - LIMIT) * np.tanh(excess / (1 - LIMIT)))
    return track


def music_bed(seconds: float, rate: int, seed: int, level: float,
              speech: np.ndarray | None = None) -> np.ndarray:
    """A slow, soft chord pad (seeded key and progression), ducked under the speech."""
    n = int(round(seconds * rate))
    rng = random.Random(f"bgm:{seed}")
    root = 110.0 * 2 ** (rng.randrange(12) / 12)  # A2 plus a seeded semitone offset
    progressions = [(0, 9, 5, 7), (0, 5, 9, 7), (9, 5, 0, 7), (0, 7, 9, 5)]
    chord_len = 4.0
    t = np.arange(n, dtype=np.float32) / rate
    bed = np.zeros(n, np.float32)
    steps = rng.choice(progressions)
    for index in range(int(np.ceil(seconds / chord_len)) + 1):
        degree = steps[index % len(steps)]
        minor = degree in (9, 4, 2)
        base = root * 2 ** (degree / 12)
        start = index * chord_len - 0.5
        a, b = max(int(start * rate), 0), min(int((start + chord_len + 1.0) * rate), n)
        if a >= b:
            continue
        span = t[a:b]
        # A raised-cosine window per chord, overlapping its neighbours: seamless changes.
        env = np.sin(np.pi * (span - start) / (chord_len + 1.0)) ** 2
        for interval, gain in ((0, 0.5), (3 if minor else 4, 0.35), (7, 0.35), (12, 0.2)):
            freq = base * 2 ** (interval / 12)
            for detune in (-0.15, 0.15):  # two slightly detuned voices: a gentle chorus
                bed[a:b] += gain * env * np.sin(2 * np.pi * (freq + detune) * span)
    bed /= max(float(np.abs(bed).max()), 1e-6)
    bed *= 0.35 * level
    if speech is not None and speech.size:
        # Duck: the bed dips to 40% while someone speaks (envelope smoothed over ~0.3 s).
        loud = np.zeros(n, np.float32)
        head = speech[:n]
        loud[:head.size] = np.abs(head) > 0.02
        width = max(int(0.3 * rate), 1)
        sums = np.cumsum(np.pad(loud, (width // 2 + 1, width - width // 2)))
        env = (sums[width:width + n] - sums[:n]) / width
        bed *= 1.0 - 0.6 * np.clip(env * 3, 0, 1)
    return bed
