"""The pages behind the signed links in notifications: acknowledge or resolve from a phone
without logging in. A GET shows what the link will do (mail scanners follow links, so nothing
changes on GET); the button POSTs, and only then does the action happen."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from vigil.accounts.models import Role, User
from vigil.errors import Conflict, NotFound
from vigil.incidents import service as incidents
from vigil.incidents.models import IncidentStatus
from vigil.notify.links import BadLink, ExpiredLink, LinkAction, LinkClaim, verify
from vigil.web.views import templates

router = APIRouter(include_in_schema=False)

VERBS = {
    LinkAction.ACKNOWLEDGE: "Acknowledge",
    LinkAction.RESOLVE: "Resolve",
    LinkAction.OPEN: "Open",
}


def _page(request: Request, status: int, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, "link.html", context, status_code=status)


def _check(request: Request, token: str) -> LinkClaim | HTMLResponse:
    try:
        return verify(request.app.state.links.secret, token, now=request.app.state.clock.now())
    except ExpiredLink:
        return _page(
            request,
            410,
            title="This link has expired",
            message="Links in notifications work for 24 hours. Sign in to act on the incident.",
            login=True,
        )
    except BadLink:
        return _page(
            request,
            403,
            title="This link is not valid",
            message="It was changed or is not a Vigil link. Nothing was done.",
        )


def _load(session: Session, claim: LinkClaim) -> tuple[Any, User | None]:
    try:
        incident = incidents.get_incident(session, incident_id=claim.incident_id)
    except NotFound:
        incident = None
    return incident, session.get(User, claim.user_id)


@router.get("/a/{token}", response_class=HTMLResponse)
def show_link(token: str, request: Request) -> HTMLResponse:
    claim = _check(request, token)
    if isinstance(claim, HTMLResponse):
        return claim
    with request.app.state.db.read_session() as session:
        incident, user = _load(session, claim)
        if incident is None or user is None:
            return _page(request, 404, title="Not found", message="That incident no longer exists.")
        resolved = incident.status == IncidentStatus.RESOLVED
        return _page(
            request,
            200,
            title=f"#{incident.number} {incident.title}",
            incident=incident,
            user=user,
            verb=VERBS[claim.action],
            token=token,
            can_act=claim.action != LinkAction.OPEN and not resolved and user.role != Role.OBSERVER,
            message="This incident is already resolved." if resolved else "",
        )


@router.post("/a/{token}", response_class=HTMLResponse)
def use_link(token: str, request: Request) -> HTMLResponse:
    claim = _check(request, token)
    if isinstance(claim, HTMLResponse):
        return claim
    app = request.app
    now = app.state.clock.now()
    with app.state.db.unit_of_work() as session:
        incident, user = _load(session, claim)
        if incident is None or user is None:
            return _page(request, 404, title="Not found", message="That incident no longer exists.")
        if user.role == Role.OBSERVER or claim.action == LinkAction.OPEN:
            return _page(
                request, 403, title="Not allowed", message="This link cannot change anything."
            )
        if incident.status == IncidentStatus.RESOLVED:
            return _page(
                request,
                409,
                title=f"#{incident.number} {incident.title}",
                message="This incident is already resolved.",
                incident=incident,
            )
        try:
            if claim.action == LinkAction.ACKNOWLEDGE:
                incidents.acknowledge(session, incident_id=incident.id, user_id=user.id, now=now)
                done = f"Acknowledged by {user.name}."
            else:
                incidents.resolve(session, incident_id=incident.id, user_id=user.id, now=now)
                done = f"Resolved by {user.name}."
        except Conflict as exc:
            return _page(request, 409, title=f"#{incident.number}", message=exc.message)
        title = f"#{incident.number} {incident.title}"
    return _page(request, 200, title=title, message=done, done=True)
