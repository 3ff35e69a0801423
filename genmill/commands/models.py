"""`genmill models`: the server's models when a URL is set, else this install's registry."""

from __future__ import annotations

from genmill.client import Model
from genmill.commands.common import (
    ApiKey,
    JsonOut,
    Url,
    client,
    print_json,
    reported_errors,
)
from genmill.commands.tables import model_table, stdout_console


def local_models() -> list[Model]:
    """The models this install would serve, described as the server describes them."""
    from genmill.api.schemas import model_entry
    from genmill.cli import _settings
    from genmill.engines.registry import build_registry

    settings = _settings()
    registry = build_registry(settings.plugins, settings.model_aliases)
    models = [Model.from_wire(model_entry(spec)) for spec in registry.models()]
    models += [Model(alias, alias, "alias", None, f"-> {target}", {})
               for alias, target in registry.aliases.items()]
    return models


def models(as_json: JsonOut = False, url: Url = None, api_key: ApiKey = None) -> None:
    """List models: id, mode, kind, params and description.

    Asks the server at `--url` / GENMILL_URL when one is set; otherwise lists the models
    this install registers (built-ins and GENMILL_PLUGINS).

    Example: `genmill models --url http://gpu-box:8080 --json`
    """
    if url:
        with reported_errors(), client(url, api_key) as gm:
            found = gm.models()
    else:
        found = local_models()
    if as_json:
        print_json([{"id": m.id, "model_name": m.name, "tag": m.mode,
                     "kind": m.kind.value if m.kind else None,
                     "description": m.description, "params": m.params} for m in found])
    else:
        stdout_console().print(model_table(found))

