"""REST: incidents and alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from vigil.accounts.models import User
from vigil.alerts import service as alerts
from vigil.api.deps import CurrentUser, Now, PathId, ReadSession, Responder, WriteSession
from vigil.api.errors import error_responses
from vigil.incidents import command, comms, lifecycle
from vigil.incidents import service as incidents
from vigil.incidents.models import Incident, IncidentStatus, Severity
from vigil.incidents.schemas import (
    AlertDetail,
    AlertList,
    AlertRead,
    IncidentDetail,
    IncidentList,
    IncidentRead,
    NoteCreate,
    ResolveRequest,
    RoleRead,
    SeverityChange,
    StatusUpdateRead,
    TaskRead,
    TimelineEventRead,
)
from vigil.notify import service as notify
from vigil.services import service as services

router = APIRouter(prefix="/api/v1", tags=["incidents"])

Limit = Annotated[int, Query(ge=1, le=incidents.PAGE_LIMIT_MAX)]


def _detail(session: ReadSession | WriteSession, incident: Incident) -> IncidentDetail:
    events = incidents.timeline(session, incident_id=incident.id)
    names = notify.names_by_id(session, User.__table__, {e.actor_user_id for e in events})
    return IncidentDetail(
        **IncidentRead.model_validate(incident).model_dump(),
        alerts=[
            AlertRead.model_validate(a)
            for a in incidents.incident_alerts(session, incident_id=incident.id)
        ],
        timeline=[
            TimelineEventRead.model_validate(e).model_copy(
                update={"actor_name": names.get(e.actor_user_id or 0)}
            )
            for e in events
        ],
        impact=incident.impact or {},
        roles=[
            RoleRead(
                role=r.role,
                user_id=r.user_id,
                assigned_at=r.assigned_at,
                duties=lifecycle.ROLE_DUTIES.get(r.role, []),
            )
            for r in command.current_roles(session, incident_id=incident.id)
        ],
        tasks=[
            TaskRead.model_validate(t) for t in comms.list_tasks(session, incident_id=incident.id)
        ],
        updates=[
            StatusUpdateRead.model_validate(u)
            for u in comms.list_updates(session, incident_id=incident.id)
        ],
        related=command.related(session, incident_id=incident.id),
        allowed_moves=[m.value for m in lifecycle.allowed_moves(incident.status)],
    )


@router.get("/incidents", response_model=IncidentList, responses=error_responses(401, 422))
def list_incidents(
    session: ReadSession,
    _user: CurrentUser,
    status: Annotated[list[IncidentStatus] | None, Query()] = None,
    service: Annotated[str | None, Query(description="Service id or name")] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> IncidentList:
    """Incidents, newest first, with cursor pagination."""
    service_id = services.find_service(session, ref=service).id if service else None
    items, next_cursor = incidents.list_incidents(
        session,
        filters=incidents.IncidentFilter(
            statuses=tuple(status or ()),
            service_id=service_id,
            severities=tuple(severity or ()),
            since=since,
            until=until,
        ),
        limit=limit,
        cursor=cursor,
    )
    return IncidentList(
        items=[IncidentRead.model_validate(i) for i in items], next_cursor=next_cursor
    )


@router.get(
    "/incidents/{number}", response_model=IncidentDetail, responses=error_responses(401, 404)
)
def get_incident(number: PathId, session: ReadSession, _user: CurrentUser) -> IncidentDetail:
    """One incident with its alerts and timeline."""
    return _detail(session, incidents.get_incident(session, incident_id=number))


@router.post(
    "/incidents/{number}/acknowledge",
    response_model=IncidentRead,
    responses=error_responses(401, 403, 404, 409),
)
def acknowledge(number: PathId, session: WriteSession, user: Responder, now: Now) -> IncidentRead:
    incident = incidents.acknowledge(session, incident_id=number, user_id=user.id, now=now)
    session.commit()
    return IncidentRead.model_validate(incident)


@router.post(
    "/incidents/{number}/resolve",
    response_model=IncidentRead,
    responses=error_responses(401, 403, 404, 422),
)
def resolve(
    number: PathId,
    session: WriteSession,
    user: Responder,
    now: Now,
    body: ResolveRequest | None = None,
) -> IncidentRead:
    note = body.note if body else ""
    incident = incidents.resolve(session, incident_id=number, user_id=user.id, now=now, note=note)
    session.commit()
    return IncidentRead.model_validate(incident)


@router.post(
    "/incidents/{number}/severity",
    response_model=IncidentRead,
    responses=error_responses(401, 403, 404, 409, 422),
)
def change_severity(
    number: PathId,
    body: SeverityChange,
    session: WriteSession,
    user: Responder,
    now: Now,
    request: Request,
) -> IncidentRead:
    incident = incidents.set_severity(
        session,
        incident_id=number,
        severity=body.severity,
        user_id=user.id,
        reason=body.reason,
        now=now,
        config=request.app.state.command,
    )
    session.commit()
    return IncidentRead.model_validate(incident)


@router.post(
    "/incidents/{number}/notes",
    response_model=TimelineEventRead,
    status_code=201,
    responses=error_responses(401, 403, 404, 422),
)
def add_note(
    number: PathId, body: NoteCreate, session: WriteSession, user: Responder, now: Now
) -> TimelineEventRead:
    """A note on the timeline; `pinned` marks a key event, `occurred_at` backfills one."""
    event = command.add_note(
        session,
        incident_id=number,
        text=body.text,
        pinned=body.pinned,
        occurred_at=body.occurred_at,
        actor=user,
        now=now,
    )
    session.commit()
    return TimelineEventRead.model_validate(event).model_copy(update={"actor_name": user.name})


@router.get("/alerts", response_model=AlertList, responses=error_responses(401, 422))
def list_alerts(
    session: ReadSession,
    _user: CurrentUser,
    service: Annotated[str | None, Query(description="Service id or name")] = None,
    status: Annotated[str | None, Query(pattern="^(firing|resolved)$")] = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> AlertList:
    """Alerts, newest first."""
    service_id = services.find_service(session, ref=service).id if service else None
    items, next_cursor = alerts.list_alerts(
        session, service_id=service_id, status=status, limit=limit, cursor=cursor
    )
    return AlertList(items=[AlertRead.model_validate(a) for a in items], next_cursor=next_cursor)


@router.get("/alerts/{alert_id}", response_model=AlertDetail, responses=error_responses(401, 404))
def get_alert(alert_id: PathId, session: ReadSession, _user: CurrentUser) -> AlertDetail:
    """One alert, with the last raw payload its sender posted."""
    return AlertDetail.model_validate(alerts.get_alert(session, alert_id=alert_id))
