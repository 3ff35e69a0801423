"""The web dashboard: `/` and its static files under `/dashboard/`, served from the package.

The page is plain HTML, CSS and JavaScript (nothing to build, nothing fetched from another
site). It is public, like `/docs`: every API call it makes carries the user's key, so the
page itself holds nothing private. Assets are read once from the package and kept in
memory with a gzip copy each; answers carry an ETag and `no-cache`, so a browser
revalidates (a 304 of a few bytes) and sees a new version at once after an upgrade.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from importlib import resources

from fastapi import APIRouter, Request
from starlette.responses import Response

from genmill.api.errors import ApiError

router = APIRouter(tags=["Dashboard"], include_in_schema=False)

ASSET_PREFIX = "/dashboard/"
_PACKAGE_DIR = ("genmill.api", "static/dashboard")
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml",
          ".txt": "text/plain; charset=utf-8"}
# Served with a gzip copy when the client accepts it; small or binary files are not worth it.
_COMPRESS_MIN = 1024
_COMPRESSIBLE = {".js", ".css", ".html", ".svg", ".txt"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str


def _asset(name: str, body: bytes) -> Asset:
    suffix = name[name.rfind("."):] if "." in name else ""
    media_type = _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or \
        "application/octet-stream"
    gzipped = None
    if suffix in _COMPRESSIBLE and len(body) >= _COMPRESS_MIN:
        gzipped = gzip.compress(body, compresslevel=9, mtime=0)
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    return Asset(body, gzipped, media_type, etag)


@functools.cache
def assets() -> dict[str, Asset]:
    """Every file under static/dashboard/, by its path relative to it ("app.js",
    "vendor/model-viewer.min.js"). Only these names can be served: no path from the
    request ever reaches the file system."""
    found: dict[str, Asset] = {}
    package, folder = _PACKAGE_DIR
    root = resources.files(package).joinpath(folder)
    pending = [(root, "")]
    while pending:
        directory, prefix = pending.pop()
        for entry in directory.iterdir():
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                pending.append((entry, f"{prefix}{entry.name}/"))
            else:
                found[prefix + entry.name] = _asset(entry.name, entry.read_bytes())
    return found


def _answer(request: Request, asset: Asset) -> Response:
    headers = {"ETag": asset.etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding",
               "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    body = asset.body
    if asset.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(status_code=200, headers=headers, media_type=asset.media_type)
    return Response(body, headers=headers, media_type=asset.media_type)


@router.api_route("/", methods=["GET", "HEAD"])
async def page(request: Request) -> Response:
    response = _answer(request, assets()["index.html"])
    # The page runs only its own scripts and styles and talks only to this server (the 3D
    # viewer compiles WebAssembly: 'wasm-unsafe-eval' allows that and not eval()).
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; "
        "img-src 'self' data: blob:; media-src 'self' blob:; "
        "style-src 'self' 'unsafe-inline'; connect-src 'self' blob: data:; "
        "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.api_route(ASSET_PREFIX + "{name:path}", methods=["GET", "HEAD"])
async def asset(name: str, request: Request) -> Response:
    found = assets().get(name)
    if found is None or name == "index.html":
        raise ApiError(404, f"no dashboard file named {name!r}")
    return _answer(request, found)
