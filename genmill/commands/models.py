"""`genmill models`: the server's models when a URL is set, else this install's registry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genmill.client import Kind, Model
from genmill.commands.common import (
    USAGE,
    ApiKey,
    JsonOut,
    Url,
    client,
    fail,
    print_json,
    reported_errors,
)
from genmill.commands.tables import model_table, stdout_console


def local_models() -> list[Model]:
    """The models this install would serve, described as the server describes them."""
    from genmill.components import Components
    from genmill.config import InvalidSettings, settings_from_flags
    from genmill.engines.models_file import ModelsFileError

    try:
        registry = Components(settings_from_flags()).registry
    except InvalidSettings as exc:
        raise fail(f"invalid settings: {exc}", USAGE) from None
    except ModelsFileError as exc:
        raise fail(str(exc), USAGE) from None
    models = [Model(spec.id, spec.display_name, spec.mode.value, Kind(spec.kind.value),
                    spec.description, spec.params_schema()) for spec in registry.models()]
    models += [Model(alias, alias, "alias", None, f"-> {target}", {})
               for alias, target in registry.aliases.items()]
    return models


CheckFile = Annotated[Path | None, typer.Option(
    "--check", metavar="FILE",
    help="Validate a models file (TOML) and list its models; starts nothing.",
)]


def check_models_file(path: Path) -> list[Model]:
    from genmill.engines.models_file import ModelsFileError, load_models_file

    try:
        specs = load_models_file(path)
    except ModelsFileError as exc:
        raise fail(str(exc), USAGE) from None
    return [Model(spec.id, spec.display_name, spec.mode.value, Kind(spec.kind.value),
                  spec.description, spec.params_schema()) for spec in specs]


def models(as_json: JsonOut = False, url: Url = None, api_key: ApiKey = None,
           check: CheckFile = None) -> None:
    """List models: id, mode, kind, params and description.

    Asks the server at `--url` / GENMILL_URL when one is set, with the live workers
    (host, device) that hold each model loaded; otherwise lists the models this install
    registers (built-ins, GENMILL_PLUGINS and the models file).
    `--check FILE` validates a models file: exit code 2 and one line per problem, naming
    the file, the entry and the key.

    Example: `genmill models --url http://gpu-box:8080 --json`
    """
    loaded_on: dict[str, list[str]] | None = None
    if check is not None:
        found = check_models_file(check)
    elif url:
        with reported_errors(), client(url, api_key) as gm:
            found = gm.models()
            loaded_on = where_loaded(gm.workers())
    else:
        found = local_models()
    if as_json:
        print_json([{"id": m.id, "model_name": m.name, "tag": m.mode,
                     "kind": m.kind.value if m.kind else None,
                     "description": m.description, "params": m.params,
                     **({"loaded_on": loaded_on.get(m.id, [])} if loaded_on is not None
                        else {})} for m in found])
    else:
        stdout_console().print(model_table(found, loaded_on))


def where_loaded(workers: list[dict]) -> dict[str, list[str]]:
    """model id -> the workers ("cuda:0 on gpu-box") that hold it loaded."""
    places: dict[str, list[str]] = {}
    for worker in workers:
        for model in worker.get("loaded") or []:
            places.setdefault(model, []).append(f"{worker.get('device')} on "
                                                f"{worker.get('host')}")
    return places

