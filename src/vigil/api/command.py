"""REST: incident command — declare, phases, edits, impact, roles, status updates, tasks,
followers, merge and link, response plans and stakeholder rules."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from vigil.accounts import service as accounts
from vigil.api.deps import Admin, CurrentUser, Now, PathId, ReadSession, Responder, WriteSession
from vigil.api.errors import error_responses
from vigil.api.incidents import _detail
from vigil.incidents import command, comms, lifecycle
from vigil.incidents import service as incidents
from vigil.incidents.impact import Impact
from vigil.incidents.models import Role
from vigil.incidents.schemas import (
    DeclareRequest,
    IncidentDetail,
    IncidentEdit,
    LinkRequest,
    MergeRequest,
    ResponsePlanCreate,
    ResponsePlanRead,
    RoleAssign,
    StakeholderRuleCreate,
    StakeholderRuleRead,
    StatusChange,
    StatusUpdateRead,
    SuggestionRead,
    TaskCreate,
    TaskRead,
    TaskUpdate,
    UpdateCreate,
)

router = APIRouter(prefix="/api/v1", tags=["incident command"])


@router.get("/severity-guidance", responses=error_responses(401))
def severity_guidance(_user: CurrentUser) -> dict[str, object]:
    """What SEV1–SEV4 mean, and the duties of each role."""
    return {"severities": lifecycle.SEVERITY_GUIDANCE, "roles": lifecycle.ROLE_DUTIES}


@router.post(
    "/incidents",
    response_model=IncidentDetail,
    status_code=201,
    responses=error_responses(401, 403, 422),
)
def declare(
    body: DeclareRequest, session: WriteSession, user: Responder, now: Now, request: Request
) -> IncidentDetail:
    """Declare an incident by hand; you are its commander unless you name another."""
    incident = command.declare(
        session,
        title=body.title,
        description=body.description,
        severity=body.severity,
        service_ids=body.services,
        commander_id=body.commander_id,
        started_at=body.started_at,
        page=body.page,
        actor=user,
        now=now,
        config=request.app.state.command,
    )
    read = _detail(session, incident)
    session.commit()
    request.app.state.wake()
    return read


@router.post(
    "/incidents/{number}/status",
    response_model=IncidentDetail,
    responses=error_responses(401, 403, 404, 409, 422),
)
def change_status(
    number: PathId,
    body: StatusChange,
    session: WriteSession,
    user: Responder,
    now: Now,
    request: Request,
) -> IncidentDetail:
    """Move to another phase; a move that is not allowed answers 409 with `allowed`."""
    incident = command.change_status(
        session,
        incident_id=number,
        status=body.status,
        message=body.message,
        actor=user,
        now=now,
        config=request.app.state.command,
    )
    read = _detail(session, incident)
    session.commit()
    request.app.state.wake()
    return read


@router.patch(
    "/incidents/{number}",
    response_model=IncidentDetail,
    responses=error_responses(401, 403, 404, 409, 422),
)
def edit(
    number: PathId, body: IncidentEdit, session: WriteSession, user: Responder, now: Now
) -> IncidentDetail:
    """Edit title, description, started_at, detected_at or the war-room link."""
    incident = command.edit(
        session,
        incident_id=number,
        changes=body.model_dump(exclude_unset=True),
        actor=user,
        now=now,
    )
    read = _detail(session, incident)
    session.commit()
    return read


@router.put(
    "/incidents/{number}/impact",
    response_model=SuggestionRead,
    responses=error_responses(401, 403, 404, 422),
)
def assess_impact(
    number: PathId, body: Impact, session: WriteSession, user: Responder, now: Now, request: Request
) -> SuggestionRead:
    """Record the impact assessment; the answer is the severity it suggests (nothing changes)."""
    suggestion = command.assess_impact(
        session,
        incident_id=number,
        impact=body,
        actor=user,
        now=now,
        config=request.app.state.command,
    )
    current = incidents.get_incident(session, incident_id=number).severity
    session.commit()
    return SuggestionRead(
        severity=suggestion.severity, reasons=list(suggestion.reasons), current=current
    )


@router.post(
    "/incidents/{number}/roles",
    response_model=IncidentDetail,
    responses=error_responses(401, 403, 404, 409, 422),
)
def assign_role(
    number: PathId, body: RoleAssign, session: WriteSession, user: Responder, now: Now
) -> IncidentDetail:
    """Give a role; a commander, technical lead, communications manager or scribe is handed over."""
    incident = incidents.get_incident(session, incident_id=number)
    holder = accounts.get_user(session, user_id=body.user_id)
    command.assign_role(
        session, incident=incident, role=Role(body.role), user=holder, actor=user, now=now
    )
    read = _detail(session, incident)
    session.commit()
    return read


@router.delete(
    "/incidents/{number}/roles/{role}/{user_id}",
    status_code=204,
    responses=error_responses(401, 403, 404),
)
def remove_role(
    number: PathId, role: Role, user_id: PathId, session: WriteSession, user: Responder, now: Now
) -> Response:
    command.remove_role(
        session, incident_id=number, role=role, user_id=user_id, actor=user, now=now
    )
    session.commit()
    return Response(status_code=204)


@router.post(
    "/incidents/{number}/updates",
    response_model=StatusUpdateRead,
    status_code=201,
    responses=error_responses(401, 403, 404, 409, 422),
)
def post_update(
    number: PathId,
    body: UpdateCreate,
    session: WriteSession,
    user: Responder,
    now: Now,
    request: Request,
) -> StatusUpdateRead:
    """A status update for responders (internal), stakeholders, or the public status page."""
    update = comms.post_update(
        session,
        incident_id=number,
        message=body.message,
        audience=body.audience,
        author_id=user.id,
        now=now,
        config=request.app.state.command,
    )
    read = StatusUpdateRead.model_validate(update)
    session.commit()
    request.app.state.wake()
    return read


@router.post(
    "/incidents/{number}/tasks",
    response_model=TaskRead,
    status_code=201,
    responses=error_responses(401, 403, 404, 422),
)
def add_task(
    number: PathId, body: TaskCreate, session: WriteSession, user: Responder, now: Now
) -> TaskRead:
    incidents.get_incident(session, incident_id=number)
    if body.assignee_id is not None:
        accounts.get_user(session, user_id=body.assignee_id)
    task = comms.add_task(
        session,
        incident_id=number,
        title=body.title,
        assignee_id=body.assignee_id,
        due_at=body.due_at,
        actor_id=user.id,
        now=now,
    )
    read = TaskRead.model_validate(task)
    session.commit()
    return read


@router.patch(
    "/incidents/{number}/tasks/{task_id}",
    response_model=TaskRead,
    responses=error_responses(401, 403, 404, 422),
)
def update_task(
    number: PathId,
    task_id: PathId,
    body: TaskUpdate,
    session: WriteSession,
    user: Responder,
    now: Now,
) -> TaskRead:
    changes = body.model_dump(exclude_unset=True)
    if changes.get("assignee_id") is not None:
        accounts.get_user(session, user_id=changes["assignee_id"])
    task = comms.update_task(
        session, incident_id=number, task_id=task_id, changes=changes, actor_id=user.id, now=now
    )
    read = TaskRead.model_validate(task)
    session.commit()
    return read


@router.post("/incidents/{number}/follow", status_code=204, responses=error_responses(401, 404))
def follow(number: PathId, session: WriteSession, user: CurrentUser) -> Response:
    """Get this incident's stakeholder updates by your low-urgency notification rules."""
    incidents.get_incident(session, incident_id=number)
    comms.follow(session, incident_id=number, user_id=user.id)
    session.commit()
    return Response(status_code=204)


@router.delete("/incidents/{number}/follow", status_code=204, responses=error_responses(401, 404))
def unfollow(number: PathId, session: WriteSession, user: CurrentUser) -> Response:
    comms.unfollow(session, incident_id=number, user_id=user.id)
    session.commit()
    return Response(status_code=204)


@router.post(
    "/incidents/{number}/merge",
    response_model=IncidentDetail,
    responses=error_responses(401, 403, 404, 409, 422),
)
def merge(
    number: PathId, body: MergeRequest, session: WriteSession, user: Responder, now: Now
) -> IncidentDetail:
    """Merge this incident into another: its alerts and timeline move there."""
    target = command.merge(session, source_id=number, target_id=body.into, actor=user, now=now)
    read = _detail(session, target)
    session.commit()
    return read


@router.post(
    "/incidents/{number}/links",
    status_code=204,
    responses=error_responses(401, 403, 404, 422),
)
def link(
    number: PathId, body: LinkRequest, session: WriteSession, user: Responder, now: Now
) -> Response:
    """Mark two incidents as related."""
    command.link(session, incident_id=number, related_id=body.incident, actor=user, now=now)
    session.commit()
    return Response(status_code=204)


@router.post(
    "/incidents/{number}/timeline/{event_id}/pin",
    status_code=204,
    responses=error_responses(401, 403, 404),
)
def pin(
    number: PathId, event_id: PathId, session: WriteSession, _user: Responder, pinned: bool = True
) -> Response:
    """Pin (or, with `pinned=false`, unpin) a timeline entry as a key event."""
    command.pin(session, incident_id=number, event_id=event_id, pinned=pinned)
    session.commit()
    return Response(status_code=204)


@router.get(
    "/services/{service_id}/response-plans",
    response_model=list[ResponsePlanRead],
    responses=error_responses(401),
)
def list_plans(
    service_id: PathId, session: ReadSession, _user: CurrentUser
) -> list[ResponsePlanRead]:
    return [
        ResponsePlanRead.model_validate(p) for p in comms.list_plans(session, service_id=service_id)
    ]


@router.post(
    "/services/{service_id}/response-plans",
    response_model=ResponsePlanRead,
    status_code=201,
    responses=error_responses(401, 403, 404, 422),
)
def create_plan(
    service_id: PathId, body: ResponsePlanCreate, session: WriteSession, _user: Admin, now: Now
) -> ResponsePlanRead:
    """For these severities on this service: a runbook and a checklist that become tasks."""
    plan = comms.create_plan(session, service_id=service_id, now=now, **body.model_dump())
    read = ResponsePlanRead.model_validate(plan)
    session.commit()
    return read


@router.delete(
    "/services/{service_id}/response-plans/{plan_id}",
    status_code=204,
    responses=error_responses(401, 403, 404),
)
def delete_plan(
    service_id: PathId, plan_id: PathId, session: WriteSession, _user: Admin
) -> Response:
    comms.delete_plan(session, service_id=service_id, plan_id=plan_id)
    session.commit()
    return Response(status_code=204)


@router.get(
    "/stakeholder-rules", response_model=list[StakeholderRuleRead], responses=error_responses(401)
)
def list_rules(session: ReadSession, _user: CurrentUser) -> list[StakeholderRuleRead]:
    return [StakeholderRuleRead.model_validate(r) for r in comms.list_stakeholder_rules(session)]


@router.post(
    "/stakeholder-rules",
    response_model=StakeholderRuleRead,
    status_code=201,
    responses=error_responses(401, 403, 422),
)
def create_rule(
    body: StakeholderRuleCreate, session: WriteSession, _user: Admin, now: Now
) -> StakeholderRuleRead:
    """For a severity: which channel hears about declarations, severity changes, updates and
    resolutions."""
    rule = comms.create_stakeholder_rule(session, now=now, **body.model_dump())
    read = StakeholderRuleRead.model_validate(rule)
    session.commit()
    return read


@router.delete(
    "/stakeholder-rules/{rule_id}", status_code=204, responses=error_responses(401, 403, 404)
)
def delete_rule(rule_id: PathId, session: WriteSession, _user: Admin) -> Response:
    comms.delete_stakeholder_rule(session, rule_id=rule_id)
    session.commit()
    return Response(status_code=204)
