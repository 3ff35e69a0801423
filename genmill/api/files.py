"""Output files: the URLs both dialects hand out, and the local API's stream/download.

Range requests follow RFC 9110 (Starlette's FileResponse: `a-b`, `a-`, `-n`, 206 with
Content-Range, 416 with `bytes */size`, If-Range); this module adds the conditional
GET (If-None-Match / If-Modified-Since -> 304) and RFC 6266 attachment names. A request
with several ranges gets a correct `multipart/byteranges` answer.

`/tasks/{task_id}/{file}` needs no key (the 128-bit task id is the capability, as on the
hosted service); `/api/v1/stream` and `/api/v1/download` are checked against the key
like every other local API route. Names are checked by the storage, so nothing outside
the task's directory can be reached.
"""

from __future__ import annotations

import email.utils
import mimetypes
import os
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, Response

from genmill.api.deps import components, owner
from genmill.api.errors import ApiError

router = APIRouter()

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


def _attachment(name: str) -> str:
    """RFC 6266: an ASCII fallback plus the exact UTF-8 name in `filename*`."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_"
                       for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _not_modified(request: Request, response: FileResponse, stat: os.stat_result) -> bool:
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        etag = response.headers["etag"]
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return "*" in tags or etag in tags
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since:
        try:
            since = email.utils.parsedate_to_datetime(if_modified_since).timestamp()
        except (TypeError, ValueError):
            return False
        return int(stat.st_mtime) <= since
    return False


def file_response(request: Request, path: Path, name: str, download: bool) -> Response:
    try:
        stat = os.stat(path)
    except OSError:  # deleted between the name check and now
        raise ApiError(404, f"no file {name!r}") from None
    response = OutputFile(path, stat_result=stat, media_type=mimetypes.guess_type(name)[0])
    if download:
        response.headers["content-disposition"] = _attachment(name)
    if _not_modified(request, response, stat):
        kept = {k: v for k, v in response.headers.items()
                if k in ("etag", "last-modified", "cache-control", "content-disposition")}
        return Response(status_code=304, headers=kept)
    return response


def _output_path(request: Request, task_id: str, name: str) -> Path:
    path = components(request).service.storage.output_path(task_id, name)
    if path is None:
        raise ApiError(404, f"no file {name!r} for task {task_id}")
    return path


@router.head("/tasks/{task_id}/{name}", include_in_schema=False)
@router.get("/tasks/{task_id}/{name}", tags=["Files"], summary="An output file of a task",
            description="No key needed: the task id is the capability. Range supported.")
async def output_file(task_id: str, name: str, request: Request) -> Response:
    return file_response(request, _output_path(request, task_id, name), name, download=False)


async def _owned_path(request: Request, task_id: str, name: str) -> Path:
    who = owner(request)
    await run_in_threadpool(components(request).service.get, who, task_id)
    return _output_path(request, task_id, name)


@router.head("/api/v1/stream/{task_id}/{name}", include_in_schema=False)
@router.get("/api/v1/stream/{task_id}/{name}", tags=["Local task API"],
            summary="Stream an output file (HTTP Range: seekable playback)")
async def stream(task_id: str, name: str, request: Request) -> Response:
    path = await _owned_path(request, task_id, name)
    return file_response(request, path, name, download=False)


@router.head("/api/v1/download/{task_id}/{name}", include_in_schema=False)
@router.get("/api/v1/download/{task_id}/{name}", tags=["Local task API"],
            summary="Download an output file as an attachment (resumable with Range)")
async def download(task_id: str, name: str, request: Request) -> Response:
    path = await _owned_path(request, task_id, name)
    return file_response(request, path, name, download=True)
