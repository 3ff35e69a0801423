"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from genmill.api.deps import components

router = APIRouter(tags=["Health"])
WORKER_FRESHNESS = 30.0  # a worker heartbeats every 5 s


@router.get("/healthz", summary="The process is alive")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz", summary="The database answers and at least one worker is alive")
async def readyz(request: Request) -> JSONResponse:
    service = components(request).service
    database_ok, workers = await run_in_threadpool(service.readiness, WORKER_FRESHNESS)
    ready = database_ok and workers > 0
    return JSONResponse(
        {"status": "ready" if ready else "not ready",
         "database": "ok" if database_ok else "unreachable", "workers": workers},
        status_code=200 if ready else 503,
    )
