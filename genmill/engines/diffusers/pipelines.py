"""Pipelines resident in a worker: loaded once, shared between entries, unloaded when idle.

Entries with the same weights (`source`, dtype, device, offload) share one load: a
text-to-image and an image-to-image entry of one checkpoint are two views
(`from_pipe`) of the same modules. A background thread unloads what has not been used
for GENMILL_MODEL_IDLE_UNLOAD seconds.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from genmill.domain import Mode
from genmill.engines.diffusers.devices import free_memory, resolve_device, torch_dtype
from genmill.engines.diffusers.entry import DiffusersEntry
from genmill.engines.diffusers.sources import resolve_source

log = logging.getLogger("genmill.engine.diffusers")

# diffusers' auto pipelines pick the right class for a checkpoint; other modes read the
# class from model_index.json.
_AUTO = {Mode.TEXT_TO_IMAGE: "AutoPipelineForText2Image",
         Mode.IMAGE_TO_IMAGE: "AutoPipelineForImage2Image"}


@dataclass(frozen=True)
class WeightsKey:
    source: str
    dtype: str
    device: str
    offload: str


@dataclass
class Resident:
    base: Any  # the pipeline as first loaded
    views: dict[tuple[Mode, str | None], Any] = field(default_factory=dict)
    users: int = 0
    last_used: float = field(default_factory=time.monotonic)


def pipeline_class(name: str) -> Any:
    """A diffusers class by name, or "module:Class" for a custom pipeline."""
    import diffusers

    if ":" in name:
        module_name, _, attribute = name.partition(":")
        if os.getcwd() not in sys.path:  # as with plug-ins: modules beside the server
            sys.path.append(os.getcwd())
        return getattr(importlib.import_module(module_name), attribute)
    found = getattr(diffusers, name, None)
    if found is None:
        raise ValueError(f"diffusers has no pipeline class {name!r}")
    return found


class PipelineCache:
    def __init__(self, idle_seconds: float) -> None:
        self.idle_seconds = idle_seconds
        self._lock = threading.RLock()
        self._resident: dict[WeightsKey, Resident] = {}
        self.loads = 0  # how many times weights were read (one per key while resident)
        if idle_seconds > 0:
            threading.Thread(target=self._sweep, name="genmill-unload", daemon=True).start()

    def key(self, entry: DiffusersEntry) -> WeightsKey:
        device = resolve_device(entry.device)
        return WeightsKey(resolve_source(entry.source, entry.allow_download),
                          entry.dtype or ("float32" if device == "cpu" else "float16"),
                          device, entry.offload)

    def loaded(self) -> list[str]:
        with self._lock:
            return [key.source for key in self._resident]

    @contextmanager
    def use(self, entry: DiffusersEntry) -> Iterator[Any]:
        """The entry's pipeline, loaded if it is not resident; never unloaded while used."""
        key = self.key(entry)
        with self._lock:
            resident = self._resident.get(key)
            if resident is None:
                resident = Resident(self._load(entry, key))
                self._resident[key] = resident
            view = resident.views.get((entry.mode, entry.pipeline))
            if view is None:
                view = self._view(resident.base, entry)
                resident.views[(entry.mode, entry.pipeline)] = view
            resident.users += 1
        try:
            yield view
        finally:
            with self._lock:
                resident.users -= 1
                resident.last_used = time.monotonic()

    def _load(self, entry: DiffusersEntry, key: WeightsKey) -> Any:
        import diffusers

        started = time.monotonic()
        if entry.pipeline:
            cls = pipeline_class(entry.pipeline)
        else:
            cls = getattr(diffusers, _AUTO.get(entry.mode, "DiffusionPipeline"))
        pipe = cls.from_pretrained(key.source, torch_dtype=torch_dtype(key.dtype),
                                   local_files_only=not entry.allow_download)
        if key.offload == "model":
            pipe.enable_model_cpu_offload(device=key.device)
        elif key.offload == "sequential":
            pipe.enable_sequential_cpu_offload(device=key.device)
        else:
            pipe.to(key.device)
        if hasattr(pipe, "set_progress_bar_config"):
            pipe.set_progress_bar_config(disable=True)  # progress goes to the task instead
        self.loads += 1
        log.info("loaded pipeline %s (%s) from %s on %s, %s, in %.2f s", entry.id,
                 type(pipe).__name__, key.source, key.device, key.dtype,
                 time.monotonic() - started)
        return pipe

    def _view(self, base: Any, entry: DiffusersEntry) -> Any:
        """The pipeline for this entry's mode over the already loaded modules."""
        import diffusers

        if entry.pipeline:
            cls = pipeline_class(entry.pipeline)
        elif entry.mode in _AUTO:
            cls = getattr(diffusers, _AUTO[entry.mode])
        else:
            return base
        if isinstance(base, cls):  # already that class (auto pipelines never match)
            return base
        view = cls.from_pipe(base)
        if hasattr(view, "set_progress_bar_config"):
            view.set_progress_bar_config(disable=True)
        return view

    def unload_idle(self) -> list[str]:
        """Drop pipelines unused for idle_seconds; returns their sources."""
        now = time.monotonic()
        with self._lock:
            idle = [key for key, r in self._resident.items()
                    if r.users == 0 and now - r.last_used >= self.idle_seconds]
            for key in idle:
                del self._resident[key]
        if idle:
            free_memory()
            for key in idle:
                log.info("unloaded pipeline %s from %s after %.0f s idle", key.source,
                         key.device, self.idle_seconds)
        return [key.source for key in idle]

    def _sweep(self) -> None:
        interval = min(30.0, max(0.2, self.idle_seconds / 4))
        while True:
            time.sleep(interval)
            try:
                self.unload_idle()
            except Exception:  # never let the sweeper die
                log.exception("unloading idle pipelines failed")


_CACHE: PipelineCache | None = None
_CACHE_LOCK = threading.Lock()


def cache() -> PipelineCache:
    """This process's cache (one per engine host)."""
    global _CACHE
    with _CACHE_LOCK:
        if _CACHE is None:
            from genmill.config import Settings

            _CACHE = PipelineCache(Settings().model_idle_unload)
        return _CACHE

