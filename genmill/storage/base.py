"""What genmill asks of a place that keeps task files: the `Storage` protocol.

Only `storage/` knows whether a file is on a local disk or in an object store. The rest of
genmill speaks in task ids and file names, never in paths, with one exception: a run
writes into a local *staging* directory (engines need a real filesystem), which the
storage then commits as the task's outputs, all at once.
"""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

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


@dataclass(frozen=True)
class StoredFile:
    """One committed output, as a server needs it to answer GET, HEAD and Range."""

    task_id: str
    name: str
    size: int
    etag: str  # quoted, as sent in the ETag header
    modified: float  # Unix seconds
    # Set by storages whose bytes sit on this machine's disk, so that the HTTP server can
    # hand the file to the kernel (sendfile / ASGI pathsend) instead of copying it
    # through Python. None for remote objects: read them with `Storage.read_range`.
    sendfile_path: Path | None = None


@runtime_checkable
class Storage(Protocol):
    # True when files sit on this machine's disk: a stat costs microseconds and may run
    # on an event loop's thread. False for a remote store (each call is a round trip).
    is_local: bool

    # -- a run's outputs ---------------------------------------------------------------

    def new_staging(self, task_id: str) -> Path:
        """A fresh, empty local directory for one run (leftovers of earlier runs go)."""
        ...

    def discard_staging(self, task_id: str) -> None:
        ...

    def commit(self, task_id: str, staging: Path, names: list[str],
               first_attempt: bool = False) -> None:
        """Make the named files of `staging` the task's outputs: all or nothing. Raises
        ValueError for a name that is unsafe or not a file the run wrote, OSError when the
        files cannot be stored. `first_attempt`: no earlier run of the task can have
        stored outputs, so there are none of theirs to look for and remove."""
        ...

    # -- reading outputs ---------------------------------------------------------------

    def stat_output(self, task_id: str, name: str) -> StoredFile | None:
        """The output, or None if the id or name is unsafe or nothing is stored there."""
        ...

    def read_range(self, file: StoredFile, start: int = 0, end: int | None = None,
                   chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        """The bytes [start, end) of a stored output (end None: to the end), in chunks."""
        ...

    def stream_range(self, file: StoredFile, start: int = 0,
                     end: int | None = None) -> AsyncIterator[bytes]:
        """`read_range` for an event loop: what the HTTP server proxies. Chunks are
        `bytes` (granian copies any other buffer type byte by byte) of whatever size the
        storage reads best."""
        ...

    def read_output(self, task_id: str, name: str) -> bytes | None:
        """A whole output (an input of another task, say), or None if there is none."""
        ...

    def redirect_url(self, file: StoredFile, disposition: str | None = None) -> str | None:
        """A URL the client may fetch the bytes from directly, or None to serve them.
        With `disposition`, the answer there must carry that Content-Disposition."""
        ...

    # -- inputs sent with a submission -------------------------------------------------

    def save_input(self, task_id: str, name: str, data: bytes) -> None:
        ...

    def read_input(self, task_id: str, name: str) -> bytes:
        ...

    # -- cleanup -----------------------------------------------------------------------

    def delete_task(self, task_id: str) -> None:
        """Remove every file of the task: outputs, inputs and staging leftovers."""
        ...

    def task_ids(self) -> Iterator[str]:
        """Ids of the tasks that have files here (what a retention sweep walks)."""
        ...

    def check(self) -> None:
        """Raise OSError unless files can be stored (what /readyz reports)."""
        ...
