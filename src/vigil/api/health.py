"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from vigil.errors import VigilError
from vigil.storage.migrate import check_schema

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database is reachable and migrated",
    responses={503: {"description": "Database unreachable or not migrated"}},
)
async def readyz(request: Request) -> JSONResponse:
    try:
        await run_in_threadpool(check_schema, request.app.state.db.engine)
    except VigilError as exc:
        return JSONResponse({"status": "not ready", "error": exc.message}, status_code=503)
    except Exception as exc:  # readiness must answer, whatever the database does
        return JSONResponse(
            {"status": "not ready", "error": f"database unreachable: {type(exc).__name__}"},
            status_code=503,
        )
    return JSONResponse({"status": "ready"})


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
