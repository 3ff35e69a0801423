"""Worker pools: one worker per GPU for the models that want a GPU, the CPU workers for the
rest, so a title card never waits behind a minute-long diffusion run.

A GPU worker sees only its GPU (CUDA_VISIBLE_DEVICES, set before its engine host starts
and imports torch). Where there are no GPU workers, the CPU workers serve every model
(a models-file entry with `device = "auto"` then runs on the CPU).

Relay models (device "relay": another server does the work) are the relay runner's
alone (worker/relay_runner.py): no CPU or GPU worker waits on an upstream.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from genmill.config import Settings
from genmill.engines.registry import Registry


def visible_gpus() -> list[int]:
    """CUDA devices this machine shows, without importing torch (which takes seconds)."""
    if importlib.util.find_spec("torch") is None:
        return []
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [int(p) for p in listed.split(",") if p.strip().isdigit()]
    nvidia = Path("/proc/driver/nvidia/gpus")
    return list(range(len(list(nvidia.iterdir())))) if nvidia.is_dir() else []


def gpu_indexes(settings: Settings, registry: Registry) -> list[int]:
    """The GPUs to start a worker on: GENMILL_GPUS, else every visible one, and none when
    no model wants a GPU."""
    if not any(spec.device not in ("cpu", "relay") for spec in registry.models()):
        return []
    return list(settings.gpus) if settings.gpus is not None else visible_gpus()


def unserved_models(registry: Registry, gpus: list[int]) -> list[str]:
    """Models pinned to a GPU ("cuda:N") that no worker would take: N is not among `gpus`.
    Without GPU workers the CPU workers take every model, so none is unserved then."""
    if not gpus:
        return []
    return [f"{spec.id} (device {spec.device})" for spec in registry.models()
            if spec.device.startswith("cuda:") and int(spec.device[5:]) not in gpus]


def worker_settings(settings: Settings, gpus: list[int]) -> tuple[list[Settings], list[str]]:
    """(settings of each worker process, its label): the CPU workers, then one per GPU."""
    base = settings.model_copy(update={"gpus": gpus})
    slots = [base] * settings.workers
    labels = ["cpu"] * settings.workers
    for index in gpus:
        slots.append(settings.model_copy(update={"gpus": gpus, "worker_gpu": index}))
        labels.append(f"cuda:{index}")
    return slots, labels


def device_label(settings: Settings) -> str:
    """What a worker serves on: "cpu" or "cuda:N"."""
    return "cpu" if settings.worker_gpu is None else f"cuda:{settings.worker_gpu}"


def claimable_models(settings: Settings, registry: Registry) -> list[str] | None:
    """The models this worker takes tasks for; None: all of them."""
    if settings.worker_gpu is not None:
        mine = ("gpu", f"cuda:{settings.worker_gpu}")
        return [spec.id for spec in registry.models() if spec.device in mine]
    if settings.gpus and any(spec.device not in ("cpu", "relay") for spec in registry.models()):
        return [spec.id for spec in registry.models() if spec.device == "cpu"]
    if relay_models(registry):  # the relay runner's alone
        return [spec.id for spec in registry.models() if spec.device != "relay"]
    return None


def relay_models(registry: Registry) -> list[str]:
    """The models the relay runner serves; none: no relay runner is started."""
    return [spec.id for spec in registry.models() if spec.device == "relay"]


def pin_to_gpu(settings: Settings) -> None:
    """In a GPU worker, before its engine host starts: see only that GPU."""
    if settings.worker_gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(settings.worker_gpu)
