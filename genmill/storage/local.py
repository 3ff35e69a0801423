"""Output and input files in a local directory, with names that cannot escape it.

Layout under the data dir:
  tasks/<task_id>/<file>      outputs of a successful task (appear all at once)
  staging/<task_id>.<rand>/   where an engine writes while it runs (same filesystem)
  inputs/<task_id>/<name>     images sent inline (data: URLs) with a submission
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import unicodedata
from pathlib import Path

from genmill.domain import kind_of_task_id

_NAME_PUNCTUATION = frozenset("._- ()+")


def is_safe_name(name: str) -> bool:
    """A plain file name: letters, digits and `._- ()+`; no separators, no leading dot.

    Unicode letters are allowed (for non-ASCII output names) but slash look-alikes such
    as U+2215 or U+FF0F are not letters, so they are refused like `/` itself.
    """
    if not name or len(name.encode("utf-8")) > 255 or name.startswith(".") or ".." in name:
        return False
    if unicodedata.normalize("NFC", name) != name:
        return False
    return all(ch.isalnum() or ch in _NAME_PUNCTUATION for ch in name)


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.tasks_dir = self.root / "tasks"
        self.staging_dir = self.root / "staging"
        self.inputs_dir = self.root / "inputs"
        for directory in (self.tasks_dir, self.staging_dir, self.inputs_dir):
            directory.mkdir(parents=True, exist_ok=True)

    def _task_dir(self, base: Path, task_id: str) -> Path:
        if kind_of_task_id(task_id) is None:
            raise ValueError(f"not a task id: {task_id!r}")
        return base / task_id

    # -- outputs ---------------------------------------------------------------------

    def new_staging(self, task_id: str) -> Path:
        self.discard_staging(task_id)  # leftovers of an attempt whose worker died
        path = self.staging_dir / f"{task_id}.{secrets.token_hex(4)}"
        path.mkdir()
        return path

    def discard_staging(self, task_id: str) -> None:
        self._task_dir(self.staging_dir, task_id)  # validates the id
        for leftover in self.staging_dir.glob(f"{task_id}.*"):
            shutil.rmtree(leftover, ignore_errors=True)

    def commit(self, task_id: str, staging: Path, names: list[str]) -> None:
        """Move a finished run's files into place in one rename: all or nothing."""
        for name in names:
            if not is_safe_name(name) or not (staging / name).is_file():
                raise ValueError(f"engine output {name!r} is not a file it wrote")
        for extra in staging.iterdir():
            if extra.name not in names:
                if extra.is_dir():
                    shutil.rmtree(extra)
                else:
                    extra.unlink()
        target = self._task_dir(self.tasks_dir, task_id)
        if target.exists():
            shutil.rmtree(target)
        os.rename(staging, target)

    def output_path(self, task_id: str, name: str) -> Path | None:
        """The path of one output file, or None if the name is unsafe or not a plain file."""
        if kind_of_task_id(task_id) is None or not is_safe_name(name):
            return None
        directory = self.tasks_dir / task_id
        path = directory / name
        try:
            if not stat.S_ISDIR(os.lstat(directory).st_mode):
                return None  # a symlink planted in place of the task dir
            if not stat.S_ISREG(os.lstat(path).st_mode):
                return None  # a symlink or anything else that is not a regular file
        except OSError:
            return None
        return path

    def delete_task(self, task_id: str) -> None:
        for base in (self.tasks_dir, self.inputs_dir):
            shutil.rmtree(self._task_dir(base, task_id), ignore_errors=True)
        self.discard_staging(task_id)

    # -- inputs ----------------------------------------------------------------------

    def save_input(self, task_id: str, name: str, data: bytes) -> None:
        directory = self._task_dir(self.inputs_dir, task_id)
        directory.mkdir(exist_ok=True)
        temp = directory / f".{name}.part"
        temp.write_bytes(data)
        os.replace(temp, directory / name)

    def read_input(self, task_id: str, name: str) -> bytes:
        if not is_safe_name(name):
            raise ValueError(f"unsafe input name {name!r}")
        return (self._task_dir(self.inputs_dir, task_id) / name).read_bytes()
