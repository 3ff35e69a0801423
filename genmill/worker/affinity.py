"""Model affinity: a worker prefers tasks for the models its engine host has loaded.

Loading a diffusion pipeline takes seconds to minutes; running one task of it may take
less. So a worker that holds a model asks first for that model's tasks, and loads another
only when none is waiting. Fairness has a bound: a task of another model that has waited
`GENMILL_AFFINITY_MAX_WAIT` seconds (default 30) is taken before any preferred one, so a
busy model never starves the others.

Models share a load when their `ModelSpec.load_group` is the same (entries over one set of
weights). The engine host unloads a pipeline after `GENMILL_MODEL_IDLE_UNLOAD` seconds
unused, so a group counts as loaded for that long after its last run, and not at all
after the engine host was restarted (a kill drops everything it held).
"""

from __future__ import annotations

import time

from genmill.engines.registry import Registry


class Residency:
    def __init__(self, registry: Registry, idle_seconds: float,
                 models: list[str] | None) -> None:
        self._groups = {spec.id: spec.load_group for spec in registry.models()
                        if spec.load_group and (models is None or spec.id in models)}
        self._idle_seconds = idle_seconds
        self._last_used: dict[str, float] = {}
        self._host_pid: int | None = None

    def ran(self, model: str, host_pid: int | None) -> None:
        """A task of `model` ran in the engine host with this pid."""
        group = self._groups.get(model)
        if group is None:
            return
        if host_pid != self._host_pid:
            self._last_used.clear()
            self._host_pid = host_pid
        self._last_used[group] = time.monotonic()

    def done(self, model: str, host_pid: int | None) -> None:
        """A run of `model` ended: its idle time starts now, if that engine host lives on
        (a restarted one holds nothing)."""
        group = self._groups.get(model)
        if group is not None and host_pid is not None and host_pid == self._host_pid:
            self._last_used[group] = time.monotonic()

    def loaded_models(self, host_pid: int | None) -> list[str]:
        """The models whose weights the engine host holds now (as far as we know)."""
        if host_pid is None or host_pid != self._host_pid:
            self._last_used.clear()
            return []
        now = time.monotonic()
        live = {group for group, used in self._last_used.items()
                if now - used < self._idle_seconds}
        return sorted(model for model, group in self._groups.items() if group in live)
