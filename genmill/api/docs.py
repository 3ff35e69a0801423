"""The API's documentation page, served whole from the package so that it works offline.

FastAPI's default `/docs` loads Swagger UI from a CDN (blank without internet) and
`/redoc` loads ReDoc and Google Fonts; genmill serves Swagger UI's files from the
`swagger-ui-bundle-v2` package (Apache-2.0, its license ships in the package's
dist-info) and has no ReDoc page. Only the files named below are served, so no request
path reaches the file system.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import (
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
    swagger_ui_default_parameters,
)
from starlette.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path

DOCS_PATH = "/docs"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
ASSETS_PATH = "/docs/assets"

_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui-bundle.js.map": "application/json",
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui.css.map": "application/json",
    "favicon-32x32.png": "image/png",
}
# validatorUrl None: Swagger UI would otherwise fetch a badge from validator.swagger.io.
_PARAMETERS = {**swagger_ui_default_parameters, "validatorUrl": None,
               "persistAuthorization": True}

router = APIRouter(include_in_schema=False)


@router.get(DOCS_PATH)
async def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - API documentation",
        swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon-32x32.png",
        oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_PATH}",
        swagger_ui_parameters=_PARAMETERS,
    )


@router.get(OAUTH2_REDIRECT_PATH)
async def swagger_ui_oauth2_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get(ASSETS_PATH + "/{name}")
async def swagger_ui_asset(name: str) -> FileResponse:
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise HTTPException(404, f"no documentation asset {name!r}")
    # The bundle changes only with the package version: a day's caching is safe.
    return FileResponse(str(swagger_ui_path / name), media_type=media_type,
                        headers={"Cache-Control": "public, max-age=86400"})
