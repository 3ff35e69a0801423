"""`engine = "diffusers"` in the models file: its keys, and the ModelSpec it builds."""

from __future__ import annotations

import functools
import importlib.util
import re

from genmill.engines.base import Engine, ModelSpec
from genmill.engines.diffusers.entry import DiffusersEntry
from genmill.engines.diffusers.params import build_params
from genmill.engines.diffusers.sources import resolve_source
from genmill.engines.models_file.entry import EntryBase

EXTRA = "pip install 'genmill[diffusers]'"


class DiffusersKind:
    entry = DiffusersEntry

    def check_available(self) -> str | None:
        missing = [name for name in ("torch", "diffusers", "transformers")
                   if importlib.util.find_spec(name) is None]
        if missing:
            return (f"the diffusers engine needs the optional extra: {EXTRA} "
                    f"(missing: {', '.join(missing)})")
        return None

    def build(self, entry: EntryBase) -> ModelSpec:
        assert isinstance(entry, DiffusersEntry)
        resolve_source(entry.source, entry.allow_download)
        class_name = "Params_" + re.sub(r"\W", "_", entry.id)
        params = build_params(class_name, entry.mode, entry.limits, entry.defaults)
        return ModelSpec(
            id=entry.id,
            mode=entry.mode,
            params=params,
            factory=functools.partial(_engine, entry),
            name=entry.name,
            description=entry.description or f"{entry.source} through diffusers "
            f"({entry.mode.value})",
            time_limit=entry.time_limit,
            device=entry.pool,
            load_group=f"diffusers:{entry.source}:{entry.dtype}:{entry.device}:{entry.offload}",
        )


def _engine(entry: DiffusersEntry) -> Engine:
    from genmill.engines.diffusers.engine import DiffusersEngine

    return DiffusersEngine(entry)


KIND = DiffusersKind()
