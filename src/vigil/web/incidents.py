"""Incident pages: the live list with filters, declaring an incident, and one incident with its
header, actions, timeline, alerts, escalation plan and impact assessment."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from vigil.accounts import service as accounts
from vigil.accounts.models import User
from vigil.errors import VigilError
from vigil.escalation import manager
from vigil.escalation import service as escalation
from vigil.escalation.models import EscalationPolicy
from vigil.incidents import command, comms, lifecycle, paging
from vigil.incidents import service as incidents
from vigil.incidents.impact import Impact
from vigil.incidents.models import Incident, IncidentStatus, Role, Severity
from vigil.incidents.schemas import (
    DeclareRequest,
    MergeRequest,
    NoteCreate,
    RoleAssign,
    SeverityChange,
    StatusChange,
    TaskCreate,
    UpdateCreate,
)
from vigil.services import service as services
from vigil.services.models import Service
from vigil.timeline.models import IncidentEvent
from vigil.web import live
from vigil.web.auth import Form, Refused, Responder, SignedIn, text
from vigil.web.render import flash, page, redirect

router = APIRouter(include_in_schema=False)

STATUSES = [s.value for s in IncidentStatus]
SEVERITIES = [s.value for s in Severity]
ROLES = [(r.value, command.ROLE_NAMES[r]) for r in Role]
AUDIENCES = ["internal", "stakeholders", "public"]
OPEN = [s for s in STATUSES if s != IncidentStatus.RESOLVED]


def first_error(exc: ValidationError) -> tuple[str, str]:
    """(field, message) of a Pydantic error, worded for a form."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "form"
    return field, str(err["msg"]).removeprefix("Value error, ")


# --- the list ---------------------------------------------------------------------------------


def _filters(
    status: list[str] | None, service: str | None, severity: list[str] | None
) -> tuple[incidents.IncidentFilter, dict[str, Any]]:
    statuses = tuple(s for s in (status or []) if s in STATUSES)
    severities = tuple(s for s in (severity or []) if s in SEVERITIES)
    service_id = int(service) if service and service.isdigit() else None
    chosen = {"status": statuses, "service": service_id, "severity": severities}
    return incidents.IncidentFilter(
        statuses=statuses, service_id=service_id, severities=severities
    ), chosen


def _list_stamp(session: Session) -> str:
    latest, count = session.execute(
        sa.select(sa.func.max(Incident.updated_at), sa.func.count()).select_from(Incident)
    ).one()
    return f"{latest.isoformat() if latest else '-'}/{count}"


def _list_context(
    session: Session, filters: incidents.IncidentFilter, cursor: str | None
) -> dict[str, Any]:
    items, next_cursor = incidents.list_incidents(session, filters=filters, limit=50, cursor=cursor)
    service_names = {s.id: s.name for s in services.list_services(session)}
    return {
        "incidents": items,
        "next_cursor": next_cursor,
        "service_names": service_names,
        "stamp": _list_stamp(session),
    }


StatusQ = Annotated[list[str] | None, Query()]
SeverityQ = Annotated[list[str] | None, Query()]


@router.get("/incidents", response_class=HTMLResponse)
def incident_list(
    request: Request,
    user: SignedIn,
    status: StatusQ = None,
    service: str | None = None,
    severity: SeverityQ = None,
    cursor: str | None = None,
) -> Response:
    filters, chosen = _filters(status, service, severity)
    with request.app.state.db.read_session() as session:
        context = _list_context(session, filters, cursor)
        context["services"] = services.list_services(session)
    query = request.url.query
    context.update(
        chosen=chosen,
        statuses=STATUSES,
        severities=SEVERITIES,
        fragment_url="/incidents/rows" + (f"?{query}" if query else ""),
    )
    return page(request, "incidents.html", context, user=user)


@router.get("/incidents/rows", response_class=HTMLResponse)
def incident_rows(
    request: Request,
    user: SignedIn,
    status: StatusQ = None,
    service: str | None = None,
    severity: SeverityQ = None,
    cursor: str | None = None,
) -> Response:
    """The list's table alone, fetched by the page when the event stream says it changed."""
    filters, _chosen = _filters(status, service, severity)
    with request.app.state.db.read_session() as session:
        context = _list_context(session, filters, cursor)
    return page(request, "_incident_rows.html", context, user=user)


@router.get("/events/incidents")
def incident_events(request: Request, _user: SignedIn, since: str = "") -> Response:
    db = request.app.state.db

    def stamp() -> str:
        with db.read_session() as session:
            return _list_stamp(session)

    return live.stream(request, stamp, since)


# --- declare ----------------------------------------------------------------------------------


def _declare_page(
    request: Request, user: User, *, errors: dict[str, str], values: dict[str, Any], status: int
) -> Response:
    with request.app.state.db.read_session() as session:
        context = {
            "services": services.list_services(session),
            "users": accounts.list_users(session),
            "severities": SEVERITIES,
            "guidance": lifecycle.SEVERITY_GUIDANCE,
            "errors": errors,
            "values": values,
        }
    return page(request, "declare.html", context, user=user, status=status)


@router.get("/incidents/new", response_class=HTMLResponse)
def declare_page(request: Request, user: Responder) -> Response:
    return _declare_page(request, user, errors={}, values={"severity": "SEV2"}, status=200)


@router.post("/incidents/new", response_class=HTMLResponse)
def declare(request: Request, user: Responder, form: Form) -> Response:
    values = {
        "title": text(form, "title"),
        "description": text(form, "description"),
        "severity": text(form, "severity"),
        "services": [v for v in form.getlist("services") if isinstance(v, str) and v.isdigit()],
        "commander_id": text(form, "commander_id"),
        "page": text(form, "page") == "on",
    }
    state = request.app.state
    try:
        body = DeclareRequest(
            title=values["title"],
            description=values["description"],
            severity=values["severity"],
            services=[int(v) for v in values["services"]],
            commander_id=int(values["commander_id"]) if values["commander_id"] else None,
            page=values["page"],
        )
        with state.db.unit_of_work() as session:
            incident = command.declare(
                session,
                title=body.title,
                description=body.description,
                severity=body.severity,
                service_ids=body.services,
                commander_id=body.commander_id,
                started_at=None,
                page=body.page,
                actor=user,
                now=state.clock.now(),
                config=state.command,
            )
            number = incident.number
    except ValidationError as exc:
        field, message = first_error(exc)
        return _declare_page(request, user, errors={field: message}, values=values, status=422)
    except VigilError as exc:
        field = (exc.field or "form").split("[")[0]
        return _declare_page(
            request, user, errors={field: exc.message}, values=values, status=exc.status_code
        )
    state.wake()
    flash(request, f"Incident #{number} declared.")
    return redirect(f"/incidents/{number}")


# --- one incident -----------------------------------------------------------------------------


def _timeline_stamp(session: Session, number: int) -> str:
    updated = session.scalar(sa.select(Incident.updated_at).where(Incident.id == number))
    last_event = session.scalar(
        sa.select(sa.func.max(IncidentEvent.id)).where(IncidentEvent.incident_id == number)
    )
    return f"{updated.isoformat() if updated else '-'}/{last_event or 0}"


def _detail_context(session: Session, number: int, now: datetime) -> dict[str, Any]:
    try:
        incident = incidents.get_incident(session, incident_id=number)
    except VigilError as exc:
        raise Refused(404, "Not found", f"Incident #{number} does not exist.") from exc
    users = accounts.list_users(session)
    names = {u.id: u.name for u in users}
    service = session.get(Service, incident.service_id) if incident.service_id else None
    pinned = escalation.get_escalation(session, incident_id=number)
    policy = (
        session.get(EscalationPolicy, pinned.policy_id) if pinned and pinned.policy_id else None
    )
    roles = command.current_roles(session, incident_id=number)
    commander = next((r for r in roles if r.role == Role.COMMANDER), None)
    end = incident.resolved_at or now
    return {
        "incident": incident,
        "service": service,
        "alerts": incidents.incident_alerts(session, incident_id=number),
        "timeline": list(reversed(incidents.timeline(session, incident_id=number))),
        "roles": roles,
        "commander": names.get(commander.user_id) if commander else None,
        "tasks": comms.list_tasks(session, incident_id=number),
        "updates": list(reversed(comms.list_updates(session, incident_id=number))),
        "users": [u for u in users if u.role != "observer"],
        "names": names,
        "escalation": pinned,
        "policy": policy,
        "plan": manager.plan(session, escalation=pinned, now=now) if pinned else [],
        "allowed_moves": [m.value for m in lifecycle.allowed_moves(incident.status)],
        "elapsed": end - (incident.started_at or incident.created_at),
        "role_choices": ROLES,
        "role_names": {r.value: n for r, n in command.ROLE_NAMES.items()},
        "severities": SEVERITIES,
        "audiences": AUDIENCES,
        "related": command.related(session, incident_id=number),
        "impact": incident.impact or {},
        "stamp": _timeline_stamp(session, number),
    }


def _incident_page(
    request: Request,
    user: User,
    number: int,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
    template: str = "incident.html",
) -> Response:
    state = request.app.state
    with state.db.read_session() as session:
        context = _detail_context(session, number, state.clock.now())
    context["errors"] = errors or {}
    context["values"] = values or {}
    return page(request, template, context, user=user, status=status)


@router.get("/incidents/{number}", response_class=HTMLResponse)
def incident_page(request: Request, number: int, user: SignedIn) -> Response:
    return _incident_page(request, user, number)


@router.get("/incidents/{number}/part/{part}", response_class=HTMLResponse)
def incident_part(request: Request, number: int, part: str, user: SignedIn) -> Response:
    """The parts of the page that change (header, timeline), for the live update."""
    if part not in ("header", "timeline"):
        raise Refused(404, "Not found", "No such part of the page.")
    return _incident_page(request, user, number, template=f"_incident_{part}.html")


@router.get("/events/incidents/{number}")
def timeline_events(request: Request, number: int, _user: SignedIn, since: str = "") -> Response:
    db = request.app.state.db

    def stamp() -> str:
        with db.read_session() as session:
            return _timeline_stamp(session, number)

    return live.stream(request, stamp, since)


# Each action: (session, number, form, actor, app state) -> a message for the person.
Action = Callable[[Session, int, FormData, User, Any], str]


def _optional_int(value: str) -> int | None:
    return int(value) if value.strip().isdigit() else None


def _acknowledge(session: Session, number: int, form: FormData, user: User, state: Any) -> str:
    incidents.acknowledge(session, incident_id=number, user_id=user.id, now=state.clock.now())
    return f"#{number} acknowledged."


def _resolve(session: Session, number: int, form: FormData, user: User, state: Any) -> str:
    body = StatusChange(status="resolved", message=text(form, "note"))
    command.change_status(
        session,
        incident_id=number,
        status=body.status,
        message=body.message,
        actor=user,
        now=state.clock.now(),
        config=state.command,
    )
    return f"#{number} resolved."


def _phase(session: Session, number: int, form: FormData, user: User, state: Any) -> str:
    body = StatusChange(status=text(form, "status"), message=text(form, "message"))
    command.change_status(
        session,
        incident_id=number,
        status=body.status,
        message=body.message,
        actor=user,
        now=state.clock.now(),
        config=state.command,
    )
    return f"#{number} is now {body.status}."


def _severity(session: Session, number: int, form: FormData, user: User, state: Any) -> str:
    body = SeverityChange(severity=text(form, "severity"), reason=text(form, "reason"))
    if not body.reason.strip():
        raise VigilError("say why the severity changes", field="reason")
    incidents.set_severity(
        session,
        incident_id=number,
        severity=body.severity,
        user_id=user.id,
        reason=body.reason,
        now=state.clock.now(),
        config=state.command,
    )
    return f"Severity is now {body.severity}."


def _escalate(session: Session, number: int, form: FormData, user: User, state: Any) -> str:
    level = _optional_int(text(form, "level"))
    if level is None or not 1 <= level <= 20:
        raise VigilError("choose a level from 1", field="level")
    paging.escalate(
        session, incident_id=number, level=level, user_id=user.id, now=state.clock.now()
    )
    return f"Escalated to level {level}."


def _update(session: Session, number: int, form: FormData, user: User, state: Any) -> str:
    body = UpdateCreate(message=text(form, "message"), audience=text(form, "audience", "internal"))
    comms.post_update(
        session,
        incident_id=number,
        message=body.message,
        audience=body.audience,
        author_id=user.id,
        now=state.clock.now(),
        config=state.command,
    )
    return "Status update posted."


def _role(session: Session, number: int, form: FormData, user: User, state: Any) -> str:
    user_id = _optional_int(text(form, "user_id"))
    if user_id is None:
        raise VigilError("choose a person", field="user_id")
    body = RoleAssign(role=text(form, "role"), user_id=user_id)
    incident = incidents.get_incident(session, incident_id=number)
    holder = accounts.get_user(session, user_id=body.user_id)
    command.assign_role(
        session,
        incident=incident,
        role=Role(body.role),
        user=holder,
        actor=user,
        now=state.clock.now(),
    )
    return f"{holder.name} is {command.ROLE_NAMES[Role(body.role)]}."


def _task(session: Session, number: int, form: FormData, user: User, state: Any) -> str:
    body = TaskCreate(
        title=text(form, "title"), assignee_id=_optional_int(text(form, "assignee_id"))
    )
    incidents.get_incident(session, incident_id=number)
    if body.assignee_id is not None:
        accounts.get_user(session, user_id=body.assignee_id)
    comms.add_task(
        session,
        incident_id=number,
        title=body.title,
        assignee_id=body.assignee_id,
        due_at=None,
        actor_id=user.id,
        now=state.clock.now(),
    )
    return "Task added."


def _task_done(session: Session, number: int, form: FormData, user: User, state: Any) -> str:
    task_id = _optional_int(text(form, "task_id"))
    if task_id is None:
        raise VigilError("which task?", field="task_id")
    status = "open" if text(form, "reopen") else "done"
    comms.update_task(
        session,
        incident_id=number,
        task_id=task_id,
        changes={"status": status},
        actor_id=user.id,
        now=state.clock.now(),
    )
    return "Task reopened." if status == "open" else "Task done."


def _note(session: Session, number: int, form: FormData, user: User, state: Any) -> str:
    body = NoteCreate(text=text(form, "text"), pinned=text(form, "pinned") == "on")
    command.add_note(
        session,
        incident_id=number,
        text=body.text,
        pinned=body.pinned,
        occurred_at=None,
        actor=user,
        now=state.clock.now(),
    )
    return "Note added."


def _merge(session: Session, number: int, form: FormData, user: User, state: Any) -> str:
    into = _optional_int(text(form, "into").lstrip("#"))
    if into is None:
        raise VigilError("give the number of the incident to merge into", field="into")
    body = MergeRequest(into=into)
    command.merge(session, source_id=number, target_id=body.into, actor=user, now=state.clock.now())
    return f"#{number} merged into #{body.into}."


def _impact(session: Session, number: int, form: FormData, user: User, state: Any) -> str:
    customers = text(form, "customers_affected").strip()
    revenue = text(form, "revenue_at_risk").strip()
    impact = Impact(
        customers_affected=int(customers) if customers.isdigit() else None,
        customer_facing=text(form, "customer_facing") == "on",
        scope=text(form, "scope", "none"),
        sla_breached=text(form, "sla_breached") == "on",
        revenue_at_risk=float(revenue) if revenue.replace(".", "", 1).isdigit() else None,
        data_integrity_affected=text(form, "data_integrity_affected") == "on",
        security_breach=text(form, "security_breach") == "on",
        notes=text(form, "notes"),
    )
    suggestion = command.assess_impact(
        session,
        incident_id=number,
        impact=impact,
        actor=user,
        now=state.clock.now(),
        config=state.command,
    )
    return f"Impact recorded; it suggests {suggestion.severity}."


ACTIONS: dict[str, Action] = {
    "acknowledge": _acknowledge,
    "resolve": _resolve,
    "phase": _phase,
    "severity": _severity,
    "escalate": _escalate,
    "update": _update,
    "role": _role,
    "task": _task,
    "task-done": _task_done,
    "note": _note,
    "merge": _merge,
    "impact": _impact,
}


@router.post("/incidents/{number}/{action}", response_class=HTMLResponse)
def incident_action(
    request: Request, number: int, action: str, user: Responder, form: Form
) -> Response:
    """Every action is a plain form post: done, then back to the incident (303)."""
    handler = ACTIONS.get(action)
    if handler is None:
        raise Refused(404, "Not found", f"There is no action {action!r}.")
    state = request.app.state
    values = {action: {k: v for k, v in form.items() if k != "csrf" and isinstance(v, str)}}
    try:
        with state.db.unit_of_work() as session:
            message = handler(session, number, form, user, state)
    except ValidationError as exc:
        _field, error = first_error(exc)
        return _incident_page(
            request, user, number, errors={action: error}, values=values, status=422
        )
    except VigilError as exc:
        if exc.status_code == 404 and exc.field in ("incident_id", "number"):
            raise Refused(404, "Not found", exc.message) from exc
        status = exc.status_code if exc.status_code != 400 else 422
        return _incident_page(
            request, user, number, errors={action: exc.message}, values=values, status=status
        )
    state.wake()
    flash(request, message)
    return redirect(f"/incidents/{number}")
