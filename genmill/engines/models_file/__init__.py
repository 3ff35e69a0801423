"""The models file: TOML `[[models]]` tables, each served by an engine kind.

The loader is engine-agnostic: it checks the keys every entry has (`id`, `engine`, `mode`,
...) and hands the table to the engine kind named by `engine`, which validates its own
keys and builds the `ModelSpec`. Errors name the file, the entry and the key.
"""

from genmill.engines.models_file.entry import EntryBase
from genmill.engines.models_file.kinds import KINDS, EngineKind, register_kind
from genmill.engines.models_file.loader import ModelsFileError, load_models_file

__all__ = [
    "KINDS",
    "EngineKind",
    "EntryBase",
    "ModelsFileError",
    "load_models_file",
    "register_kind",
]
