"""Local staging directories: where an engine writes while it runs, whatever the storage.

Engines need a real filesystem, so every storage stages on this machine's disk and then
commits: a rename for `LocalStorage`, an upload for `S3Storage`.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

from genmill.domain import kind_of_task_id
from genmill.storage.base import is_safe_name


class StagingArea:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def new(self, task_id: str) -> Path:
        """A fresh, empty directory for one run; leftovers of earlier attempts go."""
        self.discard(task_id)
        path = self.root / f"{task_id}.{secrets.token_hex(4)}"
        path.mkdir()
        return path

    def discard(self, task_id: str) -> None:
        if kind_of_task_id(task_id) is None:
            raise ValueError(f"not a task id: {task_id!r}")
        for leftover in self.root.glob(f"{task_id}.*"):
            shutil.rmtree(leftover, ignore_errors=True)


def check_outputs(staging: Path, names: list[str]) -> None:
    """Before a commit: every name an engine returned is a safe file name of a file it
    wrote in its staging directory (an engine cannot point a commit elsewhere)."""
    for name in names:
        if not is_safe_name(name) or not (staging / name).is_file():
            raise ValueError(f"engine output {name!r} is not a file it wrote")
