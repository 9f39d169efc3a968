"""Every error becomes a JSON body that names the field: domain errors, bad requests, and the
database trouble that senders should retry (503). Never a 500 for bad input."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from vigil.errors import VigilError

log = logging.getLogger("vigil.api")

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "What went wrong, for a person."},
        "field": {"type": "string", "description": "The input field at fault, when there is one."},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["error"],
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of the error bodies a route can answer with."""
    descriptions = {
        400: "Malformed request",
        401: "Missing, wrong or revoked API token",
        403: "Your role does not allow this",
        404: "Not found",
        409: "The current state refuses this change",
        413: "Body over 1 MiB",
        415: "Body is not JSON",
        422: "Invalid input; `field` names it",
        503: "Temporary trouble (database unavailable or busy); retry",
    }
    return {
        code: {
            "description": descriptions[code],
            "content": {"application/json": {"schema": ERROR_SCHEMA}},
        }
        for code in codes
    }


def _field_of(loc: tuple[Any, ...]) -> str:
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(VigilError)
    async def _vigil_error(_request: Request, exc: VigilError) -> JSONResponse:
        headers = {"Retry-After": "5"} if exc.status_code == 503 else None
        return JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": _field_of(tuple(err.get("loc", ()))),
                "message": str(err.get("msg", "")).removeprefix("Value error, "),
            }
            for err in exc.errors()
        ]
        first = errors[0] if errors else {"field": "body", "message": "invalid request"}
        if first["message"].startswith("JSON decode error"):
            first = {"field": "body", "message": "malformed JSON"}
            return JSONResponse(
                {"error": "body: malformed JSON", "field": "body", "errors": [first]},
                status_code=400,
            )
        return JSONResponse(
            {
                "error": f"{first['field']}: {first['message']}",
                "field": first["field"],
                "errors": errors,
            },
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(IntegrityError)
    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(DataError)
    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        response = database_trouble(exc, request.url.path)
        assert response is not None
        return response


def database_trouble(exc: Exception, path: str) -> JSONResponse | None:
    """The answer to a database error raised while serving `path`, or None for other errors.

    Shared by the exception handlers and the integrations' fast lane (`vigil.api.fastlane`).
    """
    if isinstance(exc, IntegrityError):
        # A race with a concurrent writer: the request can succeed if sent again.
        log.warning("integrity conflict, asking the client to retry: %s", exc.orig)
        return JSONResponse(
            {"error": "a concurrent change conflicted with this one; retry"},
            status_code=503,
            headers={"Retry-After": "1"},
        )
    if isinstance(exc, OperationalError | PoolTimeout):
        log.warning("database unavailable: %s", exc)
        return JSONResponse(
            {"error": "the database is unavailable or busy; retry shortly"},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, DataError):
        # SQLSTATE class 22: the database refuses a value we were sent (a NUL character, a number
        # out of range). Sending it again can never succeed, so this is the sender's 4xx, not a
        # 503 that senders would retry forever. Validation should catch these first; this is
        # the net under it, answered in the shape each kind of endpoint uses.
        log.error("database refused a value validation let through: %s", exc.orig)
        message = "a value in the request cannot be stored (NUL character or number out of range)"
        if path.startswith("/v2/"):
            return JSONResponse(
                {
                    "status": "invalid event",
                    "message": "Event object is invalid",
                    "errors": [message],
                    "field": "body",
                },
                status_code=400,
            )
        status = 400 if path.startswith("/integrations/") else 422
        return JSONResponse({"error": message, "field": "body"}, status_code=status)
    if isinstance(exc, DBAPIError):
        log.exception("database error")
        return JSONResponse(
            {"error": "the database refused the request; retry shortly"},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    return None
