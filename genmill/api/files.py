"""Output files at the URLs both dialects hand out: `/tasks/{task_id}/{file}`.

No bearer header is needed (as on the hosted service): the 128-bit task id in the path
is the capability. Names are checked by the storage so nothing outside the task's
directory can be reached.
"""

from __future__ import annotations

import mimetypes

from fastapi import APIRouter, Request
from starlette.responses import FileResponse

from genmill.api.deps import components
from genmill.api.errors import ApiError

router = APIRouter(tags=["Files"])

for _type, _ext in [
    ("model/gltf-binary", ".glb"), ("model/stl", ".stl"), ("text/vtt", ".vtt"),
    ("application/x-subrip", ".srt"), ("image/webp", ".webp"), ("audio/mp4", ".m4a"),
    ("video/mp4", ".mp4"),
]:
    mimetypes.add_type(_type, _ext)


def resolve_output(request: Request, task_id: str, name: str):
    path = components(request).service.storage.output_path(task_id, name)
    if path is None:
        raise ApiError(404, f"no file {name!r} for task {task_id}")
    return path


@router.head("/tasks/{task_id}/{name}", include_in_schema=False)
@router.get("/tasks/{task_id}/{name}", summary="An output file of a task")
async def output_file(task_id: str, name: str, request: Request) -> FileResponse:
    path = resolve_output(request, task_id, name)
    return FileResponse(path, media_type=mimetypes.guess_type(name)[0])
