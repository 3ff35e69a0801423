"""The picture track of a narrated video: one shot per sentence, crossfaded.

A shot is a background canvas (the user's image, a title card or a generated backdrop)
with a camera path over it. Canvases are made on a helper thread one shot ahead, so the
frame thread rarely waits, and at most three are alive at once.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from genmill.engines.video import memory, motion
from genmill.engines.video.interest import centre_of_interest
from genmill.engines.video.planes import Planes

CROSSFADE = 0.6  # seconds, at most; short shots get shorter fades


@dataclass(frozen=True)
class Shot:
    start: float
    end: float
    seed: int
    make_canvas: Callable[[tuple[int, int], float], Planes]  # (frame size, canvas zoom)
    aspect: float  # of the picture it shows, for picking the camera move
    move: str = "auto"


def cut(boundaries: list[float], total: float, longest: float | None) -> list[tuple[float, float]]:
    """Shot spans from sentence start times; spans over `longest` seconds are split evenly."""
    edges = sorted({0.0, *(b for b in boundaries if 0.0 < b < total)})
    spans = list(zip(edges, [*edges[1:], total], strict=True))
    if longest is None:
        return spans
    out: list[tuple[float, float]] = []
    for a, b in spans:
        parts = max(1, int((b - a) / longest + 0.999))
        out += [(a + (b - a) * i / parts, a + (b - a) * (i + 1) / parts) for i in range(parts)]
    return out


class ShotTrack:
    """Frame i of the picture track, made on demand in frame order."""

    def __init__(self, shots: list[Shot], size: tuple[int, int], fps: int) -> None:
        self.shots = shots
        self.size = size
        self.fps = fps
        self._fade = [min(CROSSFADE, 0.3 * (a.end - a.start), 0.3 * (b.end - b.start))
                      for a, b in zip(shots, shots[1:], strict=False)]
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="genmill-shots")
        self._ready: dict[int, Future[tuple[Planes, motion.CameraPath]]] = {}

    def prepare_first(self) -> None:
        """Build the first shot now: the title card's peak memory comes and goes before
        any encoder holds its buffers."""
        if self.shots:
            self._ready[0] = self._pool.submit(self._build, 0)
            self._ready[0].result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._ready.clear()

    def _span(self, k: int) -> tuple[float, float]:
        """When shot k is on screen, fades included."""
        shot = self.shots[k]
        before = self._fade[k - 1] / 2 if k > 0 else 0.0
        after = self._fade[k] / 2 if k < len(self._fade) else 0.0
        return shot.start - before, shot.end + after

    def _build(self, k: int) -> tuple[Planes, motion.CameraPath]:
        shot = self.shots[k]
        start, end = self._span(k)
        seconds = end - start
        move = shot.move
        if move == "auto":
            move = motion.choose("auto", "", shot.seed, shot.aspect, self.size[0] / self.size[1])
        zoom_max = motion.zoom_amount(move, seconds)
        canvas = shot.make_canvas(self.size, motion.canvas_zoom(move, zoom_max))
        memory.release()
        focus = centre_of_interest(canvas)
        return canvas, motion.plan(move, canvas.size, self.size, zoom_max, seconds, shot.seed,
                                   focus)

    def _get(self, k: int) -> tuple[Planes, motion.CameraPath]:
        for j in (k, k + 1):  # the next shot is prepared while this one plays
            if j < len(self.shots) and j not in self._ready:
                self._ready[j] = self._pool.submit(self._build, j)
        for j in [j for j in self._ready if j < k - 1]:
            del self._ready[j]  # shots behind us: free their canvases
        return self._ready[k].result()

    def _frame_of(self, k: int, t: float) -> Planes:
        canvas, path = self._get(k)
        start, end = self._span(k)
        return canvas.resample(path.box((t - start) / max(end - start, 1e-6)), self.size)

    def frame(self, i: int) -> Planes:
        t = (i + 0.5) / self.fps  # the middle of the frame's display time
        k = next((j for j, s in enumerate(self.shots) if t < s.end), len(self.shots) - 1)
        picture = self._frame_of(k, t)
        # Inside a fade: blend with the neighbouring shot.
        if k > 0 and t < self.shots[k].start + self._fade[k - 1] / 2:
            fade = self._fade[k - 1]
            weight = (t - (self.shots[k].start - fade / 2)) / fade
            return self._frame_of(k - 1, t).blend(picture, _smooth(weight))
        if k < len(self._fade) and t > self.shots[k].end - self._fade[k] / 2:
            fade = self._fade[k]
            weight = (t - (self.shots[k].end - fade / 2)) / fade
            return picture.blend(self._frame_of(k + 1, t), _smooth(weight))
        return picture


def _smooth(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


def variant_order(count: int, seed: int) -> list[int]:
    """A seeded order for cycling through the user's images."""
    order = list(range(count))
    random.Random(f"images:{seed}").shuffle(order)
    return order
