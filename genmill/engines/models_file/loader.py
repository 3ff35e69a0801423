"""Reading a models file: TOML, then each entry's common keys, then its engine kind's."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from genmill.engines.base import ModelSpec
from genmill.engines.models_file.entry import EntryBase
from genmill.engines.models_file.kinds import KINDS, load_kind


class ModelsFileError(ValueError):
    """A models file genmill cannot serve; each line names the file, entry and key."""


def _describe(error: ValidationError) -> list[tuple[str, str]]:
    """(dotted key, message) for each problem pydantic found."""
    found = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(table)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        found.append((key, message))
    return found


def load_models_file(path: Path) -> list[ModelSpec]:
    """The models a file declares, or ModelsFileError listing every problem in it."""
    label = str(path)
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelsFileError(f"{label}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelsFileError(f"{label}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ModelsFileError(f"{label}: not valid TOML: {exc}") from None

    problems: list[str] = []
    unknown_top = sorted(set(document) - {"models"})
    if unknown_top:
        problems.append(f"{label}: {unknown_top[0]}: unknown key (the file holds [[models]])")
    tables = document.get("models", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ModelsFileError(f"{label}: models: must be [[models]] tables")

    specs: list[ModelSpec] = []
    seen: dict[str, int] = {}
    for index, table in enumerate(tables):
        where = f"{label}: models[{index}]"
        spec = _load_entry(table, where, problems)
        if spec is None:
            continue
        if spec.id in seen:
            problems.append(f"{where}.id: {spec.id!r} is already declared by "
                            f"models[{seen[spec.id]}]")
            continue
        seen[spec.id] = index
        specs.append(spec)
    if problems:
        raise ModelsFileError("\n".join(problems))
    return specs


def _load_entry(table: dict[str, Any], where: str, problems: list[str]) -> ModelSpec | None:
    engine = table.get("engine")
    if engine is None:
        problems.append(f"{where}.engine: missing (one of: {', '.join(sorted(KINDS))})")
        return None
    if engine not in KINDS:
        problems.append(f"{where}.engine: unknown engine {engine!r} "
                        f"(one of: {', '.join(sorted(KINDS))})")
        return None
    kind = load_kind(engine)
    try:
        entry: EntryBase = kind.entry.model_validate(table)
    except ValidationError as exc:
        problems.extend(f"{where}.{key}: {message}" for key, message in _describe(exc))
        return None
    missing = kind.check_available()
    if missing:
        problems.append(f"{where}.engine: {missing}")
        return None
    try:
        return kind.build(entry)
    except ValueError as exc:
        problems.append(f"{where}.{exc}")
        return None
