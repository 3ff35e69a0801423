"""Engine kinds of the models file: `engine = "<name>"` -> what validates and builds it.

Kinds are named by "module:attribute" and imported only when a file uses them, so a file
of relay entries never imports torch. Another engine adds itself with `register_kind`.
"""

from __future__ import annotations

import importlib
from typing import Protocol

from genmill.engines.base import ModelSpec
from genmill.engines.models_file.entry import EntryBase


class EngineKind(Protocol):
    """Validates one kind's tables and turns a validated entry into a ModelSpec."""

    entry: type[EntryBase]  # the pydantic model of the whole table (extra keys refused)

    def check_available(self) -> str | None:
        """None when this kind can run in this install, else what to install."""
        ...

    def build(self, entry: EntryBase) -> ModelSpec:
        """The ModelSpec; raise ValueError("key: problem") for what the model refuses."""
        ...


KINDS: dict[str, str] = {
    "diffusers": "genmill.engines.diffusers.kind:KIND",
    "siray": "genmill.engines.relays.siray:KIND",
    "moneyprinter": "genmill.engines.relays.moneyprinter:KIND",
    "comfyui": "genmill.engines.relays.comfyui:KIND",
}


def register_kind(name: str, target: str) -> None:
    """Make `engine = name` known; `target` is "module:attribute" of an EngineKind."""
    KINDS[name] = target


def load_kind(name: str) -> EngineKind:
    module_name, _, attribute = KINDS[name].partition(":")
    return getattr(importlib.import_module(module_name), attribute)
