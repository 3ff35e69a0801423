"""Resumable downloads, free of I/O: file names, Range headers, what an answer allows.

Bytes go to `<name>.part` next to the final file; a later attempt sends
`Range: bytes=<size of .part>-` and appends. `<name>.part.json` remembers which URL (and
ETag) the bytes came from, so a leftover of another task's same-named file is never
resumed, and `If-Range` makes a server whose file changed send it whole. The file gets its
final name (an atomic rename) only once its size matches what the server said it would be.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from genmill.client.errors import DownloadError

CHUNK = 256 * 1024
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def file_name(url: str) -> str:
    """The last path segment, decoded, reduced to a plain name that stays in dest_dir."""
    name = unquote(urlsplit(url).path.rstrip("/").rpartition("/")[2])
    name = name.replace("\\", "_").replace("\x00", "")
    if name in ("", ".", ".."):
        raise DownloadError(f"no file name in {url!r}")
    return name


@dataclass(frozen=True)
class Target:
    url: str
    final: Path
    part: Path
    meta: Path

    @classmethod
    def for_url(cls, url: str, dest_dir: Path | str) -> Target:
        final = Path(dest_dir) / file_name(url)
        return cls(url, final, final.with_name(final.name + ".part"),
                   final.with_name(final.name + ".part.json"))

    def offset(self) -> int:
        try:
            return self.part.stat().st_size
        except FileNotFoundError:
            return 0

    def _validator(self) -> str | None:
        """The ETag the .part file's bytes came with; drops a .part of another URL."""
        try:
            meta = json.loads(self.meta.read_text())
        except (FileNotFoundError, ValueError):
            return None  # a bare .part (no record): trust Range and the final size check
        if meta.get("url") != self.url:
            self.part.unlink(missing_ok=True)
            self.meta.unlink(missing_ok=True)
            return None
        return meta.get("etag")

    def request_headers(self) -> dict[str, str]:
        # identity: the sizes checked are those of the bytes on disk, not of a gzip stream.
        headers = {"Accept-Encoding": "identity"}
        validator = self._validator()
        offset = self.offset()
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if validator:
                headers["If-Range"] = validator
        return headers

    def remember(self, response: httpx.Response) -> None:
        self.meta.write_text(json.dumps({"url": self.url,
                                         "etag": response.headers.get("etag")}))


@dataclass(frozen=True)
class Plan:
    """What to do with an answer: append from `offset` (0: start over) up to `total`."""

    offset: int
    total: int | None
    complete: bool = False  # the .part file already holds every byte


def plan(target: Target, response: httpx.Response) -> Plan:
    """Read a download answer. Raises DownloadError for one that cannot be used."""
    offset = target.offset()
    status = response.status_code
    if status == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
        if not match or int(match[1]) != offset:
            raise DownloadError(f"{target.final.name}: asked for bytes {offset}- but got "
                                f"{response.headers.get('content-range')!r}")
        return Plan(offset, None if match[3] == "*" else int(match[3]))
    if status == 200:  # no Range sent, or the server ignored it: start over
        length = response.headers.get("content-length")
        return Plan(0, int(length) if length and length.isdigit() else None)
    if status == 416:
        # Nothing past our offset: either the .part file is whole, or it is longer than
        # the file now on the server (then it is not that file's prefix; start over).
        match = re.fullmatch(r"bytes \*/(\d+)", response.headers.get("content-range", ""))
        if match and int(match[1]) == offset:
            return Plan(offset, offset, complete=True)
        target.part.unlink(missing_ok=True)
        target.meta.unlink(missing_ok=True)
        raise DownloadError(f"{target.final.name}: partial file did not match; "
                            "removed it, retry to start over")
    raise DownloadError(f"{target.final.name}: HTTP {status} from {response.request.url}")


def open_part(target: Target, plan: Plan, response: httpx.Response):
    target.final.parent.mkdir(parents=True, exist_ok=True)
    target.remember(response)
    return open(target.part, "ab" if plan.offset else "wb")


def finish(target: Target, plan: Plan) -> Path:
    """Check the size, then give the file its final name in one atomic step."""
    size = target.offset()
    if plan.total is not None and size != plan.total:
        if size > plan.total:  # cannot be a prefix of the file: don't resume from it
            target.part.unlink(missing_ok=True)
            target.meta.unlink(missing_ok=True)
        raise DownloadError(f"{target.final.name}: got {size} of {plan.total} bytes")
    os.replace(target.part, target.final)
    target.meta.unlink(missing_ok=True)
    return target.final
