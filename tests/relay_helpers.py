"""Models files and servers for the relay tests: a real genmill upstream, a relaying one."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import LiveServer

UPSTREAM_KEY = "upstream-secret-key-5f2b9c"
UPSTREAM_KEYS = {"relay": UPSTREAM_KEY}


def entry(**keys) -> str:
    lines = ["[[models]]"]
    for key, value in keys.items():
        if isinstance(value, dict):
            continue
        lines.append(f"{key} = {json.dumps(value)}")
    for key, value in keys.items():
        if isinstance(value, dict):
            lines.append(f"[models.{key}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in value.items()]
    return "\n".join(lines) + "\n"


def siray_entry(model_id: str, mode: str, upstream: str, upstream_model: str,
                **keys) -> str:
    keys = {"poll_interval": 0.2, "max_retries": 2, **keys}
    return entry(id=model_id, engine="siray", mode=mode, base_url=upstream,
                 api_key_env="UPSTREAM_KEY", upstream_model=upstream_model, **keys)


def relaying_server(make_server, data_dir: Path, models: str, env: dict | None = None,
                    **kwargs) -> LiveServer:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir.parent / f"{data_dir.name}-models.toml"
    path.write_text(models)
    return make_server(data_dir=data_dir, env={
        "GENMILL_MODELS_FILE": str(path), "UPSTREAM_KEY": UPSTREAM_KEY, **(env or {})},
        **kwargs)
