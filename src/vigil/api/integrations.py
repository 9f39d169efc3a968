"""Inbound endpoints: each authenticates by integration key, answers as its senders expect, and
sends its 2xx only after the alerts are committed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from vigil.alerts.events import AlertEvent
from vigil.errors import NotFound, ValidationFailed, VigilError
from vigil.integrations.alertmanager import parse_webhook
from vigil.integrations.generic import parse_generic
from vigil.integrations.ingest import IngestResult
from vigil.integrations.pagerduty import parse_alert_event, parse_change_event
from vigil.integrations.prometheus import parse_postable_alerts
from vigil.integrations.remote import RemoteIngestWriter
from vigil.integrations.writer import IngestWriter
from vigil.services import service as services
from vigil.storage.db import Database

router = APIRouter(tags=["integrations"])

_ACCEPTED = {"description": "Accepted and committed"}
_BAD = {"description": "Invalid payload; `field` names the fault. Never retried by senders."}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _BAD,
    404: {"description": "Unknown or revoked integration key"},
    413: {"description": "Body over 1 MiB"},
    415: {"description": "Body is not JSON"},
    503: {"description": "Temporary trouble; senders retry"},
}


class PayloadTooLarge(VigilError):
    status_code = 413


class UnsupportedMediaType(VigilError):
    status_code = 415


def _content_type_is_json(content_type: str) -> None:
    if "json" not in content_type.lower():
        raise UnsupportedMediaType(
            f"content-type must be application/json, not {content_type or 'missing'!r}",
            field="content-type",
        )


async def read_limited(
    chunks: AsyncIterator[bytes], *, content_type: str, declared: str | None, limit: int
) -> tuple[Any, bytes]:
    """The parsed JSON body and its raw bytes, refusing non-JSON and bodies over the limit (before
    reading them when the sender declared the length)."""
    _content_type_is_json(content_type)
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body is over the {limit} byte limit", field="body")
    body = b""
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"body is over the {limit} byte limit", field="body")
    try:
        return orjson.loads(body), body
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed(f"body: malformed JSON ({exc.msg})", field="body") from exc


async def read_json(request: Request) -> tuple[Any, bytes]:
    """The request's JSON body and its raw bytes (see `read_limited`)."""
    return await read_limited(
        request.stream(),
        content_type=request.headers.get("content-type", ""),
        declared=request.headers.get("content-length"),
        limit=request.app.state.settings.max_body_bytes,
    )


def _commit_ingest(app: Any, key: str, events: list[AlertEvent]) -> Awaitable[IngestResult]:
    """Hand the events to the group-commit writer at once; the answer arrives once they are
    committed (the writer wakes the worker when paging started)."""
    writer: IngestWriter | RemoteIngestWriter = app.state.ingest
    return writer.submit(key, events)


Body = Awaitable[tuple[Any, bytes]]  # the request's parsed JSON and its raw bytes, once awaited


async def _ingest(
    app: Any, body: Body, key: str, parse: Callable[[Any, bytes], list[AlertEvent]]
) -> IngestResult | JSONResponse:
    """Parse, then ingest in one transaction; integration errors answer 400 rather than 422."""
    try:
        payload, raw = await body
        committed = _commit_ingest(app, key, parse(payload, raw))
        # The writer has the events now: what they were parsed from need not live on while the
        # commit is awaited. An HTTP process holds every waiting request's body, and what lived
        # through a collection of the youngest objects was walked again by the older ones.
        del payload, raw
        return await committed
    except ValidationFailed as exc:
        return JSONResponse(exc.to_dict(), status_code=400)
    except (NotFound, PayloadTooLarge, UnsupportedMediaType) as exc:
        return JSONResponse(exc.to_dict(), status_code=exc.status_code)


def _raw_limit(app: Any) -> int:
    limit: int = app.state.settings.raw_payload_limit_bytes
    return limit


async def accept_webhook(app: Any, body: Body, key: str, integration_type: str) -> Response:
    """Alertmanager and Grafana share one body shape; only the label on the alerts differs."""
    limit = _raw_limit(app)
    outcome = await _ingest(
        app,
        body,
        key,
        lambda payload, raw: parse_webhook(
            payload,
            integration_type=integration_type,
            body_size=len(raw),
            raw_limit=limit,
            raw_body=raw,
        ),
    )
    return outcome if isinstance(outcome, Response) else _accepted(outcome)


async def accept_prometheus(app: Any, body: Body, key: str) -> Response:
    limit = _raw_limit(app)
    clock = app.state.clock
    outcome = await _ingest(
        app,
        body,
        key,
        lambda payload, raw: parse_postable_alerts(
            payload, now=clock.now(), body_size=len(raw), raw_limit=limit, raw_body=raw
        ),
    )
    return outcome if isinstance(outcome, Response) else Response(status_code=200)


async def accept_generic(app: Any, body: Body, key: str) -> Response:
    limit = _raw_limit(app)
    outcome = await _ingest(
        app,
        body,
        key,
        lambda payload, raw: parse_generic(
            payload, body_size=len(raw), raw_limit=limit, raw_body=raw
        ),
    )
    if isinstance(outcome, Response):
        return outcome
    return JSONResponse(
        {
            "status": "accepted",
            "dedup_keys": outcome.dedup_keys,
            "incidents_opened": outcome.incidents_opened,
        },
        status_code=202,
    )


async def accept_pagerduty(app: Any, body: Body) -> Response:
    try:
        payload, raw = await body
        routing_key, event = parse_alert_event(
            payload, body_size=len(raw), raw_limit=_raw_limit(app), raw_body=raw
        )
        committed = _commit_ingest(app, routing_key, [event])
        dedup_key = event.dedup_key
        del payload, raw, event  # as in `_ingest`: nothing parsed lives while the commit is awaited
        await committed
    except (ValidationFailed, NotFound, PayloadTooLarge, UnsupportedMediaType) as exc:
        return _pd_refusal(exc)
    return JSONResponse(
        {"status": "success", "message": "Event processed", "dedup_key": dedup_key},
        status_code=202,
    )


@router.post(
    "/integrations/alertmanager/{key}",
    status_code=200,
    responses={200: _ACCEPTED, **_ERRORS},
    summary="Prometheus Alertmanager webhook (payload version 4)",
)
async def alertmanager_webhook(key: str, request: Request) -> Response:
    return await accept_webhook(request.app, read_json(request), key, "alertmanager")


@router.post(
    "/integrations/grafana/{key}",
    status_code=200,
    responses={200: _ACCEPTED, **_ERRORS},
    summary="Grafana alerting webhook contact point",
)
async def grafana_webhook(key: str, request: Request) -> Response:
    return await accept_webhook(request.app, read_json(request), key, "grafana")


@router.post(
    "/integrations/prometheus/{key}/api/v2/alerts",
    status_code=200,
    responses={200: {"description": "Accepted (empty body, as Alertmanager answers)"}, **_ERRORS},
    summary="Prometheus alerts, sent straight to Vigil as to an Alertmanager (API v2)",
)
async def prometheus_alerts(key: str, request: Request) -> Response:
    return await accept_prometheus(request.app, read_json(request), key)


@router.get("/integrations/prometheus/{key}/api/v2/status", include_in_schema=False)
async def prometheus_status(key: str) -> dict[str, Any]:
    """What Alertmanager clients probe; enough for Prometheus and amtool to see a live target."""
    return {
        "cluster": {"status": "disabled", "peers": []},
        "versionInfo": {"version": "vigil", "branch": "", "revision": ""},
        "config": {"original": ""},
        "uptime": "",
    }


@router.get("/integrations/prometheus/{key}/-/healthy", include_in_schema=False)
@router.get("/integrations/prometheus/{key}/-/ready", include_in_schema=False)
async def prometheus_health(key: str) -> Response:
    return Response("OK", media_type="text/plain")


@router.post(
    "/integrations/generic/{key}",
    status_code=202,
    responses={202: _ACCEPTED, **_ERRORS},
    summary="Vigil's generic JSON: one event or a list",
)
async def generic_events(key: str, request: Request) -> Response:
    return await accept_generic(request.app, read_json(request), key)


def _accepted(result: IngestResult) -> Response:
    return JSONResponse(
        {
            "status": "success",
            "alerts_created": result.alerts_created,
            "alerts_updated": result.alerts_updated,
            "alerts_resolved": result.alerts_resolved,
        }
    )


def _pd_invalid(errors: list[str], field: str | None, status: int = 400) -> JSONResponse:
    body: dict[str, Any] = {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": errors,
    }
    if field:
        body["field"] = field
    return JSONResponse(body, status_code=status)


def _pd_refusal(exc: VigilError) -> JSONResponse:
    """Any refusal of a PagerDuty event, in PagerDuty's own error shape."""
    if isinstance(exc, NotFound):
        return _pd_invalid(["'routing_key': unknown or revoked integration key"], "routing_key")
    if isinstance(exc, ValidationFailed):
        detailed = exc.extra.get("errors")
        errors = (
            [f"'{e['field']}': {e['message']}" for e in detailed] if detailed else [exc.message]
        )
        return _pd_invalid(errors, exc.field)
    return _pd_invalid([exc.message], exc.field, status=exc.status_code)


_PD_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": '`{"status":"invalid event","message":…,"errors":[…],"field":…}`'},
    413: {"description": "Body over 1 MiB"},
    415: {"description": "Body is not JSON"},
    503: {"description": "Temporary trouble; clients retry"},
}


@router.post(
    "/v2/enqueue",
    status_code=202,
    responses={
        202: {"description": '`{"status":"success","message":"Event processed","dedup_key":…}`'},
        **_PD_ERRORS,
    },
    summary="PagerDuty Events API v2: trigger, acknowledge, resolve",
)
async def pagerduty_enqueue(request: Request) -> Response:
    return await accept_pagerduty(request.app, read_json(request))


def _commit_change(db: Database, body: Any, now: datetime) -> int:
    change = parse_change_event(body)
    with db.unit_of_work() as session:
        service = services.service_for_key(session, key=change.routing_key)
        return services.record_change_event(
            session,
            service_id=service.id,
            summary=change.payload.summary,
            source=change.payload.source,
            occurred_at=change.payload.timestamp or now,
            details=change.payload.custom_details,
            links=[link.model_dump() for link in change.links],
            now=now,
        ).id


@router.post(
    "/v2/change/enqueue",
    status_code=202,
    responses={
        202: {"description": "Change event recorded on the service's timeline"},
        **_PD_ERRORS,
    },
    summary="PagerDuty change events (deploys, config changes)",
)
async def pagerduty_change(request: Request) -> Response:
    app = request.app
    try:
        body, _raw = await read_json(request)
        change_id = await run_in_threadpool(
            _commit_change, app.state.db, body, app.state.clock.now()
        )
    except (ValidationFailed, NotFound, PayloadTooLarge, UnsupportedMediaType) as exc:
        return _pd_refusal(exc)
    return JSONResponse(
        {"status": "success", "message": "Change event processed", "id": f"chg_{change_id}"},
        status_code=202,
    )
