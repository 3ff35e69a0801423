"""The keys every relay entry has, the params a relayed model takes, and its ModelSpec."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from genmill.engines.base import Engine, ModelSpec
from genmill.engines.models_file.entry import EntryBase

# Siray documents 3–5 s between status requests for images and video, 5–10 s for 3D.
DEFAULT_POLL_INTERVAL = {"image": 3.0, "video": 3.0, "3d": 5.0}


class RelayEntry(EntryBase):
    base_url: str
    api_key_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    poll_interval: float | None = Field(None, ge=0.05, le=600)
    max_retries: int = Field(5, ge=0, le=100)
    upstream_name: str = ""  # what fail reasons start with; default: the base URL's host

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        # Operator configuration: private addresses are fine (unlike client URLs).
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http(s) URL")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        return value.rstrip("/")

    @property
    def upstream(self) -> str:
        return self.upstream_name or urlsplit(self.base_url).netloc

    @property
    def interval(self) -> float:
        return self.poll_interval or DEFAULT_POLL_INTERVAL[self.mode.kind.value]


class RelayParams(BaseModel):
    """A relayed model takes what its upstream takes: fields other than these pass
    through as sent and the upstream validates them (its 400 becomes the fail reason)."""

    model_config = ConfigDict(extra="allow")

    prompt: str = Field("", max_length=10_000, description="What to generate.")


def relay_params(entry_id: str, fixed: dict[str, Any]) -> type[BaseModel]:
    """Params for one entry: fixed values of the entry are not the client's to send."""
    name = "Relay_" + "".join(c if c.isalnum() else "_" for c in entry_id)
    model = create_model(name, __base__=RelayParams)
    if fixed:
        model.__doc__ = (f"{RelayParams.__doc__} Set by the server: {', '.join(sorted(fixed))}.")
    return model


def _not_here() -> Engine:
    raise RuntimeError("relay models run in the relay runner, not in an engine host")


def relay_spec(entry: RelayEntry, params: type[BaseModel], relay: Any,
               description: str) -> ModelSpec:
    return ModelSpec(
        id=entry.id,
        mode=entry.mode,
        params=params,
        factory=_not_here,
        name=entry.name,
        description=entry.description or description,
        time_limit=entry.time_limit,
        device="relay",
        relay=relay,
    )
