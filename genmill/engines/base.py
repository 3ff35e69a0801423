"""What an engine is, what it gets, and how a model is described to the registry.

An engine turns validated params and resolved inputs into files in `ctx.output_dir`.
It never touches the store or HTTP: progress and cancel go through its `RunContext`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from genmill.domain import Kind, Mode


class Canceled(Exception):
    """Raised inside an engine (by `ctx.check_canceled()`) to stop at once."""


class InputError(Exception):
    """An input the engine cannot use; the message becomes the task's fail_reason."""


@dataclass(frozen=True)
class InputFile:
    """One resolved input: its bytes, declared content type and where it came from."""

    data: bytes
    content_type: str
    source: str  # the URL, or "data: URL" for inline uploads


@dataclass(frozen=True)
class Inputs:
    """Inputs by request field: `image` (one) and `images` (a list)."""

    files: dict[str, list[InputFile]] = field(default_factory=dict)

    @property
    def image(self) -> InputFile | None:
        """The main input image: `image`, else the first of `images`."""
        for name in ("image", "images"):
            if self.files.get(name):
                return self.files[name][0]
        return None

    @property
    def images(self) -> list[InputFile]:
        return [*self.files.get("image", []), *self.files.get("images", [])]


class RunContext:
    """Given to `Engine.run`: where to write, which seed, and how to report."""

    def __init__(
        self,
        task_id: str,
        seed: int,
        output_dir: Path,
        report: Callable[[float, str], None] = lambda fraction, message: None,
        is_canceled: Callable[[], bool] = lambda: False,
    ) -> None:
        self.task_id = task_id
        self.seed = seed
        self.output_dir = output_dir
        self._report = report
        self._is_canceled = is_canceled
        self._last = 0.0

    def progress(self, fraction: float, message: str = "") -> None:
        """Report how far the run is (0..1). Cheap to call often: the worker throttles."""
        fraction = min(max(float(fraction), 0.0), 1.0)
        if fraction < self._last:  # progress never goes back
            fraction = self._last
        self._last = fraction
        self._report(fraction, message)

    def canceled(self) -> bool:
        return self._is_canceled()

    def check_canceled(self) -> None:
        """Call between steps of a long loop: raises `Canceled` once a cancel is asked."""
        if self._is_canceled():
            raise Canceled()


@runtime_checkable
class Engine(Protocol):
    def run(self, params: BaseModel, inputs: Inputs, ctx: RunContext) -> list[str]:
        """Write outputs into `ctx.output_dir`; return their file names in order."""
        ...


@dataclass(frozen=True)
class ModelSpec:
    """A model as the registry, the API and `GET /v1/models` know it."""

    id: str  # Siray form: "genmill/title-card-t2i"
    mode: Mode
    params: type[BaseModel]  # validated at submit time; its JSON schema is published
    factory: Callable[[], Engine]  # called once per worker process, when first needed
    name: str = ""
    description: str = ""
    time_limit: float = 600.0  # seconds a single run may take
    # Which worker pool runs it: "cpu" (the --workers processes), "gpu" (any GPU worker),
    # "cuda:N" (the worker of GPU N only) or "relay" (the relay runner, which waits on
    # another server: engines/relays/).
    device: str = "cpu"
    # Models with the same non-empty load group share one load in a worker (one set of
    # weights); a worker prefers the tasks of the groups it holds (worker/affinity.py).
    load_group: str = ""
    relay: Any = None  # for device "relay": the upstream it relays to (relays.upstream.Relay)

    @property
    def kind(self) -> Kind:
        return self.mode.kind

    @property
    def display_name(self) -> str:
        return self.name or self.id.split("/", 1)[-1]


    def params_schema(self) -> dict[str, Any]:
        """The params as one self-contained JSON schema (definitions inlined): what
        `GET /v1/models`, the OpenAPI document and `genmill models` publish."""
        schema = self.params.model_json_schema()
        defs = schema.pop("$defs", {})

        def inline(node: Any) -> Any:
            if isinstance(node, dict):
                ref = node.get("$ref")
                if isinstance(ref, str) and ref.startswith("#/$defs/"):
                    return inline(defs[ref.removeprefix("#/$defs/")])
                return {k: inline(v) for k, v in node.items()}
            if isinstance(node, list):
                return [inline(v) for v in node]
            return node

        return inline(schema)
