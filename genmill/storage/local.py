"""Output and input files in a local directory, with names that cannot escape it.

Layout under the data dir:
  tasks/<task_id>/<file>      outputs of a successful task (appear all at once)
  staging/<task_id>.<rand>/   where an engine writes while it runs (same filesystem)
  inputs/<task_id>/<name>     images sent inline (data: URLs) with a submission
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from genmill.domain import kind_of_task_id
from genmill.storage.base import StoredFile, is_safe_name
from genmill.storage.staging import StagingArea, check_outputs


class LocalStorage:
    """`Storage` on one machine's disk: staging and outputs on the same filesystem, so a
    commit is one rename."""

    is_local = True

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.tasks_dir = self.root / "tasks"
        self.staging_dir = self.root / "staging"
        self.inputs_dir = self.root / "inputs"
        for directory in (self.tasks_dir, self.inputs_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self.staging = StagingArea(self.staging_dir)

    def _task_dir(self, base: Path, task_id: str) -> Path:
        if kind_of_task_id(task_id) is None:
            raise ValueError(f"not a task id: {task_id!r}")
        return base / task_id

    # -- outputs ---------------------------------------------------------------------

    def new_staging(self, task_id: str) -> Path:
        return self.staging.new(task_id)

    def discard_staging(self, task_id: str) -> None:
        self.staging.discard(task_id)

    def commit(self, task_id: str, staging: Path, names: list[str],
               first_attempt: bool = False) -> None:
        """Move a finished run's files into place in one rename: all or nothing. (An
        earlier attempt's directory is looked for either way: a stat costs nothing.)"""
        check_outputs(staging, names)
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

    def _output_file(self, task_id: str, name: str) -> tuple[Path, os.stat_result] | None:
        if kind_of_task_id(task_id) is None or not is_safe_name(name):
            return None
        directory = self.tasks_dir / task_id
        path = directory / name
        try:
            if not stat.S_ISDIR(os.lstat(directory).st_mode):
                return None  # a symlink planted in place of the task dir
            info = os.lstat(path)
        except OSError:
            return None
        if not stat.S_ISREG(info.st_mode):
            return None  # a symlink or anything else that is not a regular file
        return path, info

    def stat_output(self, task_id: str, name: str) -> StoredFile | None:
        found = self._output_file(task_id, name)
        if found is None:
            return None
        path, info = found
        # The ETag Starlette's FileResponse computes, so both ways of serving agree.
        digest = hashlib.md5(f"{info.st_mtime}-{info.st_size}".encode(), usedforsecurity=False)
        etag = f'"{digest.hexdigest()}"'
        return StoredFile(task_id, name, info.st_size, etag, info.st_mtime, sendfile_path=path)

    def read_range(self, file: StoredFile, start: int = 0, end: int | None = None,
                   chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        found = self._output_file(file.task_id, file.name)
        if found is None:
            raise FileNotFoundError(f"{file.task_id}/{file.name}")
        end = found[1].st_size if end is None else end
        with open(found[0], "rb") as handle:
            handle.seek(start)
            while start < end:
                chunk = handle.read(min(chunk_size, end - start))
                if not chunk:
                    return
                start += len(chunk)
                yield chunk

    async def stream_range(self, file: StoredFile, start: int = 0,
                           end: int | None = None) -> AsyncIterator[bytes]:
        # Not the HTTP path for local files (that is sendfile); here for the protocol.
        chunks = self.read_range(file, start, end)
        while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
            yield chunk

    def read_output(self, task_id: str, name: str) -> bytes | None:
        found = self._output_file(task_id, name)
        if found is None:
            return None
        try:
            return found[0].read_bytes()
        except OSError:  # deleted since the check
            return None

    def redirect_url(self, file: StoredFile, disposition: str | None = None) -> str | None:
        return None  # local files are served by genmill itself

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

    # -- retention -------------------------------------------------------------------

    def task_ids(self) -> Iterator[str]:
        seen: set[str] = set()
        for base in (self.tasks_dir, self.inputs_dir):
            for entry in os.scandir(base):
                if entry.name not in seen and kind_of_task_id(entry.name) is not None:
                    seen.add(entry.name)
                    yield entry.name

    def check(self) -> None:
        for directory in (self.tasks_dir, self.inputs_dir, self.staging_dir):
            if not directory.is_dir() or not os.access(directory, os.W_OK | os.X_OK):
                raise OSError(f"{directory} is not a writable directory")
