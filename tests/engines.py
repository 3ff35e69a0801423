"""Engines the tests register as a plug-in (GENMILL_PLUGINS=tests.engines).

They make small real PNGs in controllable steps, so the core (queue, leases, cancel,
time limits, failures, inputs) can be tested without the built-in media models.
"""

from __future__ import annotations

import hashlib
import time

from PIL import Image
from pydantic import Field

from genmill.domain import Mode
from genmill.engines.base import InputError, Inputs, ModelSpec, RunContext
from genmill.engines.decode import open_image
from genmill.engines.params import ImageParams, MeshParams, VideoParams


class Steps:
    steps: int = Field(3, ge=1, le=10_000)
    step_ms: int = Field(10, ge=0, le=60_000)
    ignore_cancel: bool = False
    fail: str = ""
    files: list[str] = []  # extra outputs: real MP4s for .mp4, seeded bytes otherwise
    file_bytes: int = Field(1000, ge=0, le=600_000_000)


def write_extra(path, seed: int, size: int) -> None:
    if path.suffix == ".mp4":
        write_mp4(path, frames=48)
        return
    import random

    rng = random.Random(seed)
    with open(path, "wb") as out:
        remaining = size
        while remaining:
            block = min(remaining, 1 << 20)
            out.write(rng.randbytes(block))
            remaining -= block


def write_mp4(path, frames: int) -> None:
    """A real 2 s H.264 MP4 (24 fps, 64x48) with a moving bar, for seeking tests."""
    import av
    import numpy as np

    with av.open(str(path), "w", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(frames):
            pixels = np.zeros((48, 64, 3), np.uint8)
            pixels[:, index % 64] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


class StepImageParams(ImageParams, Steps):
    pass


class StepVideoParams(VideoParams, Steps):
    pass


class StepMeshParams(MeshParams, Steps):
    pass


def _swatch(seed: int, text: str) -> Image.Image:
    digest = hashlib.sha256(f"{seed}:{text}".encode()).digest()
    return Image.new("RGB", (32, 32), tuple(digest[:3]))


class StepEngine:
    """Sleeps `steps` × `step_ms`, reporting progress, then writes one PNG per `n`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, params, inputs: Inputs, ctx: RunContext) -> list[str]:
        for step in range(params.steps):
            if not params.ignore_cancel:
                ctx.check_canceled()
            time.sleep(params.step_ms / 1000)
            ctx.progress((step + 1) / params.steps, f"step {step + 1}")
        if params.fail == "crash":
            import os

            os._exit(3)  # the engine's process dies: the worker must survive it
        if params.fail:
            raise RuntimeError(params.fail)
        names = []
        for index in range(getattr(params, "n", 1)):
            name = f"{self.name}-{index + 1}.png"
            _swatch(ctx.seed + index, params.prompt).save(ctx.output_dir / name)
            names.append(name)
        for index, name in enumerate(params.files):
            write_extra(ctx.output_dir / name, ctx.seed + index, params.file_bytes)
            names.append(name)
        return names


class EchoEngine:
    """Decodes the input image and writes it back as PNG: proves inputs arrive intact."""

    def run(self, params, inputs: Inputs, ctx: RunContext) -> list[str]:
        if inputs.image is None:
            raise InputError("no input image")
        image = open_image(inputs.image)
        image.save(ctx.output_dir / "echo.png")
        ctx.check_canceled()
        return ["echo.png"]


class EchoParams(ImageParams):
    pass


class JournalEngine(StepEngine):
    """A step engine that appends each run's start, steps and end to the file named by
    GENMILL_TEST_JOURNAL (one line each: run token, task id, pid, event, time), so that a
    chaos run can tell whether two runs of one task ever overlapped (tests/chaos_kit.py)."""

    def __init__(self) -> None:
        super().__init__("journal")

    def run(self, params, inputs: Inputs, ctx: RunContext) -> list[str]:
        import os
        import secrets

        path = os.environ.get("GENMILL_TEST_JOURNAL")
        token = secrets.token_hex(6)

        def note(event: str) -> None:
            if path:  # one short O_APPEND write per line: lines never interleave
                line = f"{token} {ctx.task_id} {os.getpid()} {event} {time.time():.6f}\n"
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, line.encode())
                finally:
                    os.close(fd)

        note("start")
        outer = ctx._report

        def report(fraction: float, message: str) -> None:
            note("step")
            outer(fraction, message)

        ctx._report = report
        names = super().run(params, inputs, ctx)
        note("end")
        return names



MODELS = [
    ModelSpec("test/steps-t2i", Mode.TEXT_TO_IMAGE, StepImageParams,
              lambda: StepEngine("image"), description="test engine", time_limit=30),
    ModelSpec("test/steps-t2v", Mode.TEXT_TO_VIDEO, StepVideoParams,
              lambda: StepEngine("video"), description="test engine", time_limit=30),
    ModelSpec("test/steps-text-to-3d", Mode.TEXT_TO_3D, StepMeshParams,
              lambda: StepEngine("mesh"), description="test engine", time_limit=30),
    ModelSpec("test/echo-i2i", Mode.IMAGE_TO_IMAGE, EchoParams, EchoEngine,
              description="test engine"),
    ModelSpec("test/journal-t2i", Mode.TEXT_TO_IMAGE, StepImageParams, JournalEngine,
              description="test engine that journals its runs", time_limit=30),
    ModelSpec("test/slow-t2i", Mode.TEXT_TO_IMAGE, StepImageParams,
              lambda: StepEngine("slow"), description="test engine with a 1 s limit",
              time_limit=1),
]
