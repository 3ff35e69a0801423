"""The keys every models-file entry has, whatever its engine."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from genmill.domain import Mode

# Siray's form: "owner/name", lower case, digits, dots, dashes and underscores.
_MODEL_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*$")


class EntryBase(BaseModel):
    """Engine kinds subclass this with their own keys; unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    engine: str
    mode: Mode
    name: str = ""
    description: str = ""
    time_limit: float = Field(600.0, gt=0, le=86_400)

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not _MODEL_ID.match(value):
            raise ValueError(
                f"{value!r} is not a model id of the form 'owner/name' "
                "(lower case letters, digits, '.', '-', '_')"
            )
        return value

    @field_validator("mode", mode="before")
    @classmethod
    def _check_mode(cls, value: object) -> object:
        known = [m.value for m in Mode]
        if isinstance(value, str) and value not in known:
            raise ValueError(f"unknown mode {value!r}; one of: {', '.join(known)}")
        return value
