"""Running a diffusers pipeline for one task: arguments per mode, progress and cancel from
the steps, outputs written with the project's own encoders."""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image
from pydantic import BaseModel

from genmill.domain import Mode
from genmill.engines.base import InputError, Inputs, RunContext
from genmill.engines.decode import open_image
from genmill.engines.diffusers import outputs
from genmill.engines.diffusers.devices import gpu_memory_errors
from genmill.engines.diffusers.entry import DiffusersEntry
from genmill.engines.diffusers.params import MULTIPLE
from genmill.engines.diffusers.pipelines import cache

log = logging.getLogger("genmill.engine.diffusers")

STEPS_SHARE = 0.9  # of the progress bar; the rest is decoding and encoding


class Steps:
    """Progress and cancel at every denoising step.

    Uses the pipeline's `callback_on_step_end` when it has one; otherwise (Shap-E, older
    pipelines) wraps its scheduler's `step` for the length of the call."""

    def __init__(self, pipe: Any, ctx: RunContext, total: int) -> None:
        self.pipe, self.ctx, self.total, self.done = pipe, ctx, max(1, total), 0

    def tick(self) -> None:
        self.ctx.check_canceled()  # a cancel stops the run here, at the next step
        self.done += 1
        total = getattr(self.pipe, "num_timesteps", None) or self.total
        total = max(total, self.done)
        self.ctx.progress(STEPS_SHARE * self.done / total, f"step {self.done}/{total}")

    def on_step_end(self, pipe: Any, step: int, timestep: Any, kwargs: dict) -> dict:
        self.tick()
        return kwargs

    def call(self, kwargs: dict[str, Any]) -> Any:
        started = time.perf_counter()
        try:
            return self._call(kwargs)
        finally:
            # bench/models.py reads this line: genmill's overhead is the rest of the task.
            log.info("task %s: pipeline call %.4f s, %d steps", self.ctx.task_id,
                     time.perf_counter() - started, self.done,
                     extra={"task_id": self.ctx.task_id})

    def _call(self, kwargs: dict[str, Any]) -> Any:
        accepted = inspect.signature(self.pipe.__call__).parameters
        if not any(p.kind == p.VAR_KEYWORD for p in accepted.values()):
            kwargs = {k: v for k, v in kwargs.items() if k in accepted}
        self.ctx.check_canceled()
        if "callback_on_step_end" in accepted:
            return self.pipe(**kwargs, callback_on_step_end=self.on_step_end)
        scheduler = self.pipe.scheduler
        original = scheduler.step

        def step(*args: Any, **kw: Any) -> Any:
            result = original(*args, **kw)
            self.total = len(getattr(scheduler, "timesteps", [])) or self.total
            self.tick()
            return result

        scheduler.step = step
        try:
            return self.pipe(**kwargs)
        finally:
            del scheduler.step  # the class's method again


def _generator(seed: int) -> Any:
    import torch

    # A CPU generator gives the same noise on every device: same seed, same image.
    return torch.Generator("cpu").manual_seed(seed)


def _input_image(inputs: Inputs) -> Image.Image:
    item = inputs.image
    if item is None:
        raise InputError("image: this model needs an input image")
    return open_image(item).convert("RGB")


def _fit(image: Image.Image, params: Any) -> Image.Image:
    """The input at the asked size, or its own size rounded to 8 and within the limits."""
    if params.width and params.height:
        size = (params.width, params.height)
    else:
        limits = type(params).limits
        scale = min(1.0, limits.width / image.width, limits.height / image.height)
        size = tuple(max(MULTIPLE, int(side * scale) // MULTIPLE * MULTIPLE)
                     for side in image.size)
    return image if image.size == size else image.resize(size, Image.LANCZOS)


def _common(params: Any, ctx: RunContext) -> dict[str, Any]:
    return {
        "prompt": params.prompt,
        "negative_prompt": params.negative_prompt or None,
        "num_inference_steps": params.num_inference_steps,
        "guidance_scale": params.guidance_scale,
        "generator": _generator(ctx.seed),
    }


def run_image(pipe: Any, params: Any, inputs: Inputs, ctx: RunContext, mode: Mode) -> list[str]:
    kwargs = {**_common(params, ctx), "num_images_per_prompt": params.n, "output_type": "pil"}
    total = params.num_inference_steps
    if mode == Mode.IMAGE_TO_IMAGE:
        image = _fit(_input_image(inputs), params)
        kwargs.update(image=image, strength=params.strength)
        total = max(1, int(params.num_inference_steps * params.strength))
    else:
        kwargs.update(width=params.width, height=params.height)
    images = Steps(pipe, ctx, total).call(kwargs).images
    ctx.progress(STEPS_SHARE, "encoding")
    return outputs.write_images(images, ctx.output_dir, params.output_format)


def run_video(pipe: Any, params: Any, inputs: Inputs, ctx: RunContext, mode: Mode) -> list[str]:
    kwargs: dict[str, Any] = {
        **_common(params, ctx), "num_frames": params.num_frames, "output_type": "np",
        "width": params.width, "height": params.height,
    }
    if mode == Mode.IMAGE_TO_VIDEO:
        image = _fit(_input_image(inputs), params)
        kwargs.update(
            image=image, width=image.width, height=image.height, fps=params.fps,
            max_guidance_scale=params.guidance_scale,
            min_guidance_scale=min(1.0, params.guidance_scale),
            motion_bucket_id=params.motion_bucket_id,
            noise_aug_strength=params.noise_aug_strength, decode_chunk_size=8,
        )
        kwargs.pop("guidance_scale")
    result = Steps(pipe, ctx, params.num_inference_steps).call(kwargs)
    frames = _frames(result.frames)
    ctx.progress(STEPS_SHARE, "encoding video")
    return outputs.write_video(frames, ctx.output_dir, params.fps,
                               lambda done: ctx.progress(
                                   STEPS_SHARE + (1 - STEPS_SHARE) * done, "encoding video"),
                               ctx.check_canceled)


def _frames(frames: Any) -> list[np.ndarray]:
    """The first video of a pipeline's output as uint8 RGB arrays, whatever its form."""
    first = frames[0]
    if isinstance(first, Image.Image):  # a flat list of frames
        first = frames
    items = list(first)
    out = []
    for frame in items:
        if isinstance(frame, Image.Image):
            out.append(np.asarray(frame.convert("RGB")))
            continue
        array = np.asarray(frame)
        if array.dtype != np.uint8:
            array = (np.clip(array, 0, 1) * 255).round().astype(np.uint8)
        out.append(array[..., :3])
    return out


def run_mesh(pipe: Any, params: Any, inputs: Inputs, ctx: RunContext, mode: Mode) -> list[str]:
    """Shap-E: latents from the pipeline, then its renderer's marching cubes at the asked
    grid (the pipeline's own mesh output is fixed at 128 per side)."""
    import torch

    kwargs: dict[str, Any] = {
        "num_inference_steps": params.num_inference_steps,
        "guidance_scale": params.guidance_scale,
        "generator": _generator(ctx.seed), "output_type": "latent",
    }
    if mode == Mode.IMAGE_TO_3D:
        kwargs["image"] = _input_image(inputs)
    else:
        kwargs["prompt"] = params.prompt
    latents = Steps(pipe, ctx, params.num_inference_steps).call(kwargs).images
    ctx.progress(STEPS_SHARE * 0.95, "extracting the surface")
    with torch.no_grad():
        decoded = pipe.shap_e_renderer.decode_to_mesh(
            latents[0][None, :], pipe._execution_device, grid_size=params.mesh_resolution
        )
    ctx.check_canceled()
    ctx.progress(STEPS_SHARE, "writing model.glb")
    return outputs.write_mesh(decoded, ctx.output_dir, params.prompt)


RUNNERS: dict[Mode, Callable[..., list[str]]] = {
    Mode.TEXT_TO_IMAGE: run_image, Mode.IMAGE_TO_IMAGE: run_image,
    Mode.TEXT_TO_VIDEO: run_video, Mode.IMAGE_TO_VIDEO: run_video,
    Mode.TEXT_TO_3D: run_mesh, Mode.IMAGE_TO_3D: run_mesh,
}


class DiffusersEngine:
    """One models-file entry. The pipeline itself lives in the process-wide cache, so it
    stays loaded between tasks and is shared with entries of the same weights."""

    def __init__(self, entry: DiffusersEntry) -> None:
        self.entry = entry

    def run(self, params: BaseModel, inputs: Inputs, ctx: RunContext) -> list[str]:
        ctx.progress(0.0, "loading the model")
        with cache().use(self.entry) as pipe, gpu_memory_errors():
            return RUNNERS[self.entry.mode](pipe, params, inputs, ctx, self.entry.mode)

