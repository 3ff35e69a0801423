"""Where a model's weights come from: a local diffusers folder or the local HF cache."""

from __future__ import annotations

import re
from pathlib import Path

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def is_local(source: str) -> bool:
    return source.startswith(("/", ".", "~")) or Path(source).expanduser().exists()


def resolve_source(source: str, allow_download: bool) -> str:
    """The folder or repo id to load from; ValueError("source: ...") when it is not there.

    genmill never downloads unless the entry allows it, so a repo id must already be in
    the local Hugging Face cache (HF_HOME / HF_HUB_CACHE)."""
    if is_local(source):
        folder = Path(source).expanduser()
        if not (folder / "model_index.json").is_file():
            raise ValueError(f"source: {source} is not a diffusers folder "
                             "(no model_index.json in it)")
        return str(folder.resolve())
    if not _REPO_ID.match(source):
        raise ValueError(f"source: {source!r} is neither a folder nor a Hugging Face "
                         "repo id (owner/name)")
    if allow_download:
        return source
    from huggingface_hub import constants, try_to_load_from_cache

    if not isinstance(try_to_load_from_cache(source, "model_index.json"), str):
        raise ValueError(
            f"source: {source!r} is not in the local Hugging Face cache "
            f"({constants.HF_HUB_CACHE}); download it first (`hf download {source}`) or "
            "set allow_download = true"
        )
    return source
