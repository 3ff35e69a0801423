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


@router.get("/readyz", summary="The database and the storage answer and at least one "
            "worker is alive; the body names what is down")
async def readyz(request: Request) -> JSONResponse:
    service = components(request).service
    database_ok, storage_ok, workers = await run_in_threadpool(service.readiness,
                                                               WORKER_FRESHNESS)
    down = [name for name, ok in (("database", database_ok), ("storage", storage_ok),
                                  ("workers", bool(workers))) if not ok]
    # Which worker serves which device, and the models it holds loaded (no pids: public).
    serving = [{"host": w["host"], "device": w["device"], "loaded": w["loaded"]}
               for w in workers]
    return JSONResponse(
        {"status": "not ready" if down else "ready", "down": down,
         "database": "ok" if database_ok else "unreachable",
         "storage": "ok" if storage_ok else "unreachable", "workers": len(workers),
         "worker_devices": serving},
        status_code=503 if down else 200,
    )
