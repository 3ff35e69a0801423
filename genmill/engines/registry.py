"""Model id -> ModelSpec: the built-ins, plug-ins, and aliases from the settings.

Plug-ins are modules that expose `MODELS` (a list of ModelSpec): named in the
`GENMILL_PLUGINS` setting, or installed under the `genmill.engines` entry-point group.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path

from genmill.domain import Kind
from genmill.engines.base import ModelSpec

log = logging.getLogger("genmill.engines")


class UnknownModel(LookupError):
    pass


class Registry:
    def __init__(self, aliases: dict[str, str] | None = None) -> None:
        self._models: dict[str, ModelSpec] = {}
        self.aliases = dict(aliases or {})

    def register(self, spec: ModelSpec) -> None:
        if spec.id in self._models:
            raise ValueError(f"model {spec.id!r} is registered twice")
        self._models[spec.id] = spec

    def register_all(self, specs: Iterable[ModelSpec]) -> None:
        for spec in specs:
            self.register(spec)

    def resolve(self, model_id: str) -> ModelSpec:
        spec = self._models.get(self.aliases.get(model_id, model_id))
        if spec is None:
            raise UnknownModel(model_id)
        return spec

    def models(self, kind: Kind | None = None) -> list[ModelSpec]:
        return [m for m in self._models.values() if kind is None or m.kind == kind]


def load_module_models(module_name: str) -> list[ModelSpec]:
    # Plug-in modules may live in the directory genmill was started from, as with
    # `python -m`; worker processes inherit that directory.
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    module = importlib.import_module(module_name)
    models = getattr(module, "MODELS", None)
    if models is None:
        raise ValueError(f"plug-in module {module_name!r} has no MODELS list")
    return list(models)


def build_registry(plugins: Iterable[str] = (), aliases: dict[str, str] | None = None,
                   models_file: Path | None = None) -> Registry:
    """The built-in models, then entry-point plug-ins, then modules named in settings, then
    the models file (a bad one raises ModelsFileError naming the file, entry and key)."""
    from genmill.engines import builtin

    registry = Registry(aliases)
    registry.register_all(builtin.MODELS)
    for ep in entry_points(group="genmill.engines"):
        registry.register_all(load_module_models(ep.value))
    for name in plugins:
        registry.register_all(load_module_models(name))
    if models_file is not None:
        from genmill.engines.models_file import ModelsFileError, load_models_file

        for spec in load_models_file(models_file):
            if spec.id in registry._models:
                raise ModelsFileError(f"{models_file}: {spec.id!r} is already a built-in "
                                      "or plug-in model")
            registry.register(spec)
    for alias, target in registry.aliases.items():
        if target not in registry._models:
            log.warning("model alias %s -> %s points at no registered model", alias, target)
    return registry
