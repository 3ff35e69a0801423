"""The frame pipeline: one thread makes frames while the caller's thread encodes them.

Pillow's resampling and x264 both release the GIL, so drawing frame i+1 overlaps with
encoding frame i. A short queue bounds memory to a few frames. Progress and the cancel
check run on the caller's thread, once per chunk of frames.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import TypeVar

from genmill.engines.base import RunContext

T = TypeVar("T")
_DONE = object()


def stream_frames(count: int, make: Callable[[int], T], consume: Callable[[int, T], None],
                  ctx: RunContext, span: tuple[float, float] = (0.0, 1.0),
                  message: str = "rendering", chunk: int = 8) -> None:
    """make(i) for i in 0..count-1 on a worker thread, consume(i, frame) here, in order."""
    frames: queue.Queue[object] = queue.Queue(maxsize=4)
    stop = threading.Event()

    def produce() -> None:
        try:
            for i in range(count):
                if stop.is_set():
                    return
                item = make(i)
                while not stop.is_set():
                    try:
                        frames.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer to re-raise
            frames.put(exc)
            return
        frames.put(_DONE)

    worker = threading.Thread(target=produce, name="genmill-frames", daemon=True)
    worker.start()
    try:
        first, last = span
        for i in range(count):
            item = frames.get()
            if isinstance(item, BaseException):
                raise item
            if item is _DONE:
                raise RuntimeError("frame producer ended early")
            consume(i, item)  # type: ignore[arg-type]
            if (i + 1) % chunk == 0 or i + 1 == count:
                ctx.check_canceled()
                ctx.progress(first + (last - first) * (i + 1) / count, message)
    finally:
        stop.set()
        while worker.is_alive():
            try:
                frames.get(timeout=0.05)
            except queue.Empty:
                pass
        worker.join()
