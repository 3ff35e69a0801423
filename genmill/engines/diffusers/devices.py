"""Devices, dtypes, and what to do when a GPU runs out of memory."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from genmill.engines.base import InputError


class OutOfGpuMemory(InputError):
    """The task fails with this message; the worker and its loaded models carry on."""


def resolve_device(device: str) -> str:
    """"auto" is the worker's GPU when it has one, else the CPU.

    A GPU worker sees only its own GPU (CUDA_VISIBLE_DEVICES), so "cuda:N" of the file
    names the physical GPU the pool routes the task to and is "cuda" inside the worker."""
    import torch

    if device == "cpu":
        return "cpu"
    if not torch.cuda.is_available():
        if device == "auto":
            return "cpu"
        raise InputError(f"the model wants device {device!r} but this worker has no GPU")
    if device.startswith("cuda:") and torch.cuda.device_count() == 1:
        return "cuda"
    return "cuda" if device == "auto" else device


def torch_dtype(name: str) -> Any:
    import torch

    return getattr(torch, name)


def free_memory() -> None:
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@contextmanager
def gpu_memory_errors() -> Iterator[None]:
    """A CUDA out-of-memory error ends the task, not the worker: free what the failed run
    held (its activations are garbage once the exception is gone) and say so."""
    import torch

    try:
        yield
    except torch.cuda.OutOfMemoryError as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        del exc
        free_memory()
        raise OutOfGpuMemory(f"out of GPU memory: {first}".rstrip(": ")) from None
