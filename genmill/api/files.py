"""Output files: the URLs both dialects hand out, and the local API's stream/download.

Files come from the `Storage` as `StoredFile`s, served one of three ways: a file on this
machine's disk by Starlette's FileResponse (pathsend under granian; Range `a-b`, `a-`,
`-n`, 206 with Content-Range, 416 with `bytes */size`, If-Range, multipart/byteranges);
a remote object proxied in ranges (one range per request; several get the whole file, as
RFC 9110 allows); or a redirect to a URL the storage gives. This module adds the
conditional GET (If-None-Match / If-Modified-Since -> 304) and RFC 6266 attachment names.

`/tasks/{task_id}/{file}` needs no key (the 128-bit task id is the capability, as on the
hosted service); `/api/v1/stream` and `/api/v1/download` are checked against the key
like every other local API route. Names are checked by the storage, so nothing outside
the task's directory can be reached.
"""

from __future__ import annotations

import email.utils
import logging
import mimetypes
import os
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from genmill.api.auth import owner
from genmill.api.deps import components
from genmill.api.errors import ApiError
from genmill.storage import Storage, StoredFile

router = APIRouter()
log = logging.getLogger("genmill.api")

for _type, _ext in [
    ("model/gltf-binary", ".glb"), ("model/stl", ".stl"), ("text/vtt", ".vtt"),
    ("application/x-subrip", ".srt"), ("image/webp", ".webp"), ("audio/mp4", ".m4a"),
    ("video/mp4", ".mp4"), ("audio/mpeg", ".mp3"), ("audio/wav", ".wav"),
]:
    mimetypes.add_type(_type, _ext)


class OutputFile(FileResponse):
    # Bigger reads than Starlette's 64 KB: range answers (seeking players, resumed
    # downloads) stream several times faster. Whole files go by pathsend when the
    # server offers it (granian), with no Python in the loop at all.
    chunk_size = 1024 * 1024

    def __init__(self, file: StoredFile, **kwargs) -> None:
        super().__init__(file.sendfile_path, **kwargs)
        self.file = file

    async def __call__(self, scope, receive, send) -> None:
        # Starlette sends the 200 before it opens the file (and under pathsend granian
        # opens it), so a file that cannot be opened (deleted since its stat, no
        # permission, an I/O error) went out as a 200 cut short. Opening it here first
        # (a local file: microseconds) lets such a file get an error answer instead.
        try:
            os.close(os.open(self.path, os.O_RDONLY | os.O_NONBLOCK))
        except OSError as exc:
            raise read_error(self.file, exc) from None
        await super().__call__(scope, receive, send)


class ProxiedFile(StreamingResponse):
    """A remote object's bytes. The first piece is read before the response starts, so
    that an object gone or a store down since the stat gets an error answer, not a 200
    cut short (a piece is read in milliseconds)."""

    def __init__(self, storage: Storage, file: StoredFile, start: int, end: int | None,
                 **kwargs) -> None:
        self.file = file
        self.pieces = storage.stream_range(file, start, end)
        self.first: bytes | None = None
        super().__init__(self._body(), **kwargs)

    async def __call__(self, scope, receive, send) -> None:
        try:
            self.first = await anext(self.pieces, None)
        except OSError as exc:
            raise read_error(self.file, exc) from None
        await super().__call__(scope, receive, send)

    async def _body(self):
        if self.first is not None:
            yield self.first
        async for piece in self.pieces:
            yield piece


def read_error(file: StoredFile, exc: OSError) -> ApiError:
    """A found output that cannot be read: an answer that names it, never a traceback."""
    if isinstance(exc, FileNotFoundError):  # removed since it was found (a delete)
        return ApiError(404, f"no file {file.name!r} for task {file.task_id}")
    log.error("cannot read output %s of task %s: %s", file.name, file.task_id, exc)
    if isinstance(exc, PermissionError):  # the server's own setup: retrying won't help
        return ApiError(500, f"output {file.name!r} of task {file.task_id} cannot be read: "
                             "the server is not allowed to open it")
    reason = exc.strerror or "storage unavailable"
    return ApiError(503, f"output {file.name!r} of task {file.task_id} cannot be read right "
                         f"now ({reason}); retry later", headers={"Retry-After": "5"})


def _attachment(name: str) -> str:
    """RFC 6266: an ASCII fallback plus the exact UTF-8 name in `filename*`."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_"
                       for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _http_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def _tags(header: str) -> list[str]:
    return [tag.strip().removeprefix("W/") for tag in header.split(",")]


def _not_modified(request: Request, file: StoredFile) -> bool:
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = _tags(if_none_match)
        return "*" in tags or file.etag in tags
    since = _http_date(request.headers.get("if-modified-since"))
    return since is not None and int(file.modified) <= since


def _precondition_failed(request: Request, file: StoredFile) -> bool:
    """RFC 9110 13.1.1/13.1.4: If-Match (strong) or If-Unmodified-Since not met -> 412."""
    if_match = request.headers.get("if-match")
    if if_match is not None:
        tags = [tag.strip() for tag in if_match.split(",")]
        return not ("*" in tags or file.etag in tags)
    before = _http_date(request.headers.get("if-unmodified-since"))
    return before is not None and int(file.modified) > before


def _if_range_holds(request: Request, file: StoredFile) -> bool:
    """RFC 9110 13.1.5: a Range applies only if If-Range (an ETag or the exact
    Last-Modified date) still names this file; else the whole file goes."""
    if_range = request.headers.get("if-range")
    if if_range is None:
        return True
    if if_range.strip().startswith(('"', "W/")):
        return if_range.strip() == file.etag  # strong comparison
    date = _http_date(if_range)
    return date is not None and date == int(file.modified)


def _single_range(header: str | None, size: int) -> tuple[int, int] | None:
    """[start, end) of a one-range `bytes=` header; None to send the whole file (no
    header, an invalid one, or several ranges: RFC 9110 lets a server ignore Range).
    416 when valid but unsatisfiable."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header.removeprefix("bytes=").strip().partition("-")
    try:
        if first:
            start, end = int(first), (int(last) + 1 if last else size)
        else:
            start, end = max(0, size - int(last)), size
    except ValueError:
        return None
    if start < 0 or (first and last and end <= start):
        return None  # last-pos before first-pos: invalid, so ignored
    if start >= size or end <= start:
        raise ApiError(416, f"range not satisfiable (size {size})",
                       headers={"Content-Range": f"bytes */{size}"})
    return start, min(end, size)


def file_response(request: Request, storage: Storage, file: StoredFile,
                  download: bool) -> Response:
    headers = {"etag": file.etag,
               "last-modified": email.utils.formatdate(file.modified, usegmt=True),
               "accept-ranges": "bytes"}
    if download:
        headers["content-disposition"] = _attachment(file.name)
    if _precondition_failed(request, file):
        raise ApiError(412, "precondition failed: the file's ETag or date does not match",
                       headers={"ETag": file.etag})
    if _not_modified(request, file):
        return Response(status_code=304, headers=headers)
    redirect = storage.redirect_url(file, headers.get("content-disposition"))
    if redirect is not None:
        # Not cached: the signed URL it points to expires.
        return RedirectResponse(redirect, status_code=307,
                                headers={"cache-control": "no-store"})
    media_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    if file.sendfile_path is not None:
        # Range, If-Range and multipart/byteranges by Starlette; whole files by pathsend.
        return OutputFile(file, headers=headers, media_type=media_type,
                          stat_result=_stat(file))
    # A remote object: proxy its bytes (one range at most).
    wanted = None
    if _if_range_holds(request, file):  # else: changed since, send it all
        wanted = _single_range(request.headers.get("range"), file.size)
    if request.method == "HEAD":
        headers["content-length"] = str(file.size)
        return Response(status_code=200, headers=headers, media_type=media_type)
    if wanted is None:
        headers["content-length"] = str(file.size)
        return ProxiedFile(storage, file, 0, None, headers=headers, media_type=media_type)
    start, end = wanted
    headers["content-range"] = f"bytes {start}-{end - 1}/{file.size}"
    headers["content-length"] = str(end - start)
    return ProxiedFile(storage, file, start, end, status_code=206, headers=headers,
                       media_type=media_type)


def _stat(file: StoredFile) -> os.stat_result:
    try:
        return os.stat(file.sendfile_path)  # type: ignore[arg-type]
    except OSError as exc:
        raise read_error(file, exc) from None


async def _stored(request: Request, task_id: str, name: str) -> StoredFile:
    storage = components(request).storage
    try:
        if storage.is_local:
            file = storage.stat_output(task_id, name)
        else:  # a round trip to the object store: off the event loop
            file = await run_in_threadpool(storage.stat_output, task_id, name)
    except OSError as exc:  # the object store is down or refuses genmill's key
        log.error("storage unavailable: %s", exc)
        raise ApiError(503, "storage unavailable; retry later",
                       headers={"Retry-After": "5"}) from None
    if file is None:
        if await run_in_threadpool(components(request).service.output_expired, task_id, name):
            raise ApiError(410, f"output expired: {name!r} of task {task_id} was removed by "
                                "the retention policy; the task's status stays readable")
        raise ApiError(404, f"no file {name!r} for task {task_id}")
    return file


def _serve(request: Request, file: StoredFile, download: bool) -> Response:
    return file_response(request, components(request).storage, file, download)


# The bytes of an output, in the type its name says (image/png, video/mp4, model/gltf-binary
# ...): documented as any type, so that the OpenAPI document does not promise JSON.
_FILE = {"content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}
FILE_RESPONSES = {200: {"description": "The whole file", **_FILE},
                  206: {"description": "The requested range of the file (Range)", **_FILE}}


@router.head("/tasks/{task_id}/{name}", include_in_schema=False)
@router.get("/tasks/{task_id}/{name}", tags=["Files"], summary="An output file of a task",
            description="No key needed: the task id is the capability. Range supported.",
            response_class=Response, responses=FILE_RESPONSES)
async def output_file(task_id: str, name: str, request: Request) -> Response:
    return _serve(request, await _stored(request, task_id, name), download=False)


async def _owned(request: Request, task_id: str, name: str) -> StoredFile:
    await run_in_threadpool(components(request).service.get, owner(request), task_id)
    return await _stored(request, task_id, name)


@router.head("/api/v1/stream/{task_id}/{name}", include_in_schema=False)
@router.get("/api/v1/stream/{task_id}/{name}", tags=["Local task API"],
            summary="Stream an output file (HTTP Range: seekable playback)",
            response_class=Response, responses=FILE_RESPONSES)
async def stream(task_id: str, name: str, request: Request) -> Response:
    return _serve(request, await _owned(request, task_id, name), download=False)


@router.head("/api/v1/download/{task_id}/{name}", include_in_schema=False)
@router.get("/api/v1/download/{task_id}/{name}", tags=["Local task API"],
            summary="Download an output file as an attachment (resumable with Range)",
            response_class=Response, responses=FILE_RESPONSES)
async def download(task_id: str, name: str, request: Request) -> Response:
    return _serve(request, await _owned(request, task_id, name), download=True)
