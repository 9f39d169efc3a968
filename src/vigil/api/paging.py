"""REST: escalation policies, contact methods, notification rules, shared channels, and paging
actions on incidents (escalate, reassign, the escalation plan, the messages sent)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from vigil.accounts import service as accounts
from vigil.accounts.models import Role, User
from vigil.api.deps import Admin, CurrentUser, Now, PathId, ReadSession, Responder, WriteSession
from vigil.api.errors import error_responses
from vigil.errors import Forbidden, NotFound
from vigil.escalation import manager
from vigil.escalation import service as escalation
from vigil.escalation.schemas import EscalationRead, PolicyCreate, PolicyRead, PolicyUpdate
from vigil.incidents import paging
from vigil.incidents import service as incidents
from vigil.incidents.schemas import IncidentRead
from vigil.notify import service as notify
from vigil.notify.channels import Destination, Message, MessageKind
from vigil.notify.schemas import (
    ChannelCreate,
    ChannelRead,
    ContactMethodCreate,
    ContactMethodRead,
    NotificationRead,
    RuleCreate,
    RuleRead,
    TestResult,
    VerifyRequest,
)
from vigil.notify.senders import channels_from_settings

router = APIRouter(prefix="/api/v1", tags=["paging"])


def _self_or_admin(actor: User, user_id: int) -> None:
    if actor.id != user_id and actor.role != Role.ADMIN:
        raise Forbidden("you can only change your own contact methods and rules")


# --- escalation policies --------------------------------------------------------------------


@router.get("/escalation-policies", response_model=list[PolicyRead], responses=error_responses(401))
def list_policies(session: ReadSession, _user: CurrentUser) -> list[PolicyRead]:
    return [PolicyRead.model_validate(p) for p in escalation.list_policies(session)]


@router.post(
    "/escalation-policies",
    response_model=PolicyRead,
    status_code=201,
    responses=error_responses(401, 403, 409, 422),
)
def create_policy(body: PolicyCreate, session: WriteSession, _user: Admin, now: Now) -> PolicyRead:
    """Levels of targets (users, schedules, teams, channels) with delays; repeat 0–9 times."""
    read = PolicyRead.model_validate(escalation.create_policy(session, data=body, now=now))
    session.commit()
    return read


@router.get(
    "/escalation-policies/{policy_id}",
    response_model=PolicyRead,
    responses=error_responses(401, 404),
)
def get_policy(policy_id: PathId, session: ReadSession, _user: CurrentUser) -> PolicyRead:
    return PolicyRead.model_validate(escalation.get_policy(session, policy_id=policy_id))


@router.patch(
    "/escalation-policies/{policy_id}",
    response_model=PolicyRead,
    responses=error_responses(401, 403, 404, 409, 422),
)
def update_policy(
    policy_id: PathId, body: PolicyUpdate, session: WriteSession, _user: Admin, now: Now
) -> PolicyRead:
    """Edit a policy: new incidents use the new version, running escalations keep theirs."""
    read = PolicyRead.model_validate(
        escalation.update_policy(session, policy_id=policy_id, data=body, now=now)
    )
    session.commit()
    return read


@router.delete(
    "/escalation-policies/{policy_id}", status_code=204, responses=error_responses(401, 403, 404)
)
def delete_policy(policy_id: PathId, session: WriteSession, _user: Admin) -> Response:
    escalation.delete_policy(session, policy_id=policy_id)
    session.commit()
    return Response(status_code=204)


# --- contact methods and rules --------------------------------------------------------------


@router.get(
    "/users/{user_id}/contact-methods",
    response_model=list[ContactMethodRead],
    responses=error_responses(401, 404),
)
def list_contact_methods(
    user_id: PathId, session: ReadSession, _user: CurrentUser
) -> list[ContactMethodRead]:
    accounts.get_user(session, user_id=user_id)
    return [
        ContactMethodRead.model_validate(m)
        for m in notify.list_contact_methods(session, user_id=user_id)
    ]


@router.post(
    "/users/{user_id}/contact-methods",
    response_model=ContactMethodRead,
    status_code=201,
    responses=error_responses(401, 403, 404, 422),
)
def add_contact_method(
    user_id: PathId,
    body: ContactMethodCreate,
    session: WriteSession,
    actor: CurrentUser,
    now: Now,
    request: Request,
) -> ContactMethodRead:
    """Add a method; it gets a verification code and pages only once verified."""
    _self_or_admin(actor, user_id)
    method = notify.add_contact_method(
        session, user_id=user_id, data=body, now=now, links=request.app.state.links
    )
    read = ContactMethodRead.model_validate(method)
    session.commit()
    request.app.state.wake()
    return read


@router.post(
    "/users/{user_id}/contact-methods/{method_id}/verify",
    response_model=ContactMethodRead,
    responses=error_responses(401, 403, 404, 422),
)
def verify_contact_method(
    user_id: PathId,
    method_id: PathId,
    body: VerifyRequest,
    session: WriteSession,
    actor: CurrentUser,
    now: Now,
) -> ContactMethodRead:
    _self_or_admin(actor, user_id)
    method = notify.verify_contact_method(
        session, user_id=user_id, method_id=method_id, code=body.code, now=now
    )
    read = ContactMethodRead.model_validate(method)
    session.commit()
    return read


@router.delete(
    "/users/{user_id}/contact-methods/{method_id}",
    status_code=204,
    responses=error_responses(401, 403, 404),
)
def delete_contact_method(
    user_id: PathId, method_id: PathId, session: WriteSession, actor: CurrentUser
) -> Response:
    _self_or_admin(actor, user_id)
    notify.delete_contact_method(session, user_id=user_id, method_id=method_id)
    session.commit()
    return Response(status_code=204)


@router.get(
    "/users/{user_id}/notification-rules",
    response_model=list[RuleRead],
    responses=error_responses(401, 404),
)
def list_rules(user_id: PathId, session: ReadSession, _user: CurrentUser) -> list[RuleRead]:
    return [RuleRead.model_validate(r) for r in notify.list_rules(session, user_id=user_id)]


@router.post(
    "/users/{user_id}/notification-rules",
    response_model=RuleRead,
    status_code=201,
    responses=error_responses(401, 403, 404, 422),
)
def create_rule(
    user_id: PathId, body: RuleCreate, session: WriteSession, actor: CurrentUser
) -> RuleRead:
    """For high or low urgency: `delay_minutes` after being paged, use this contact method."""
    _self_or_admin(actor, user_id)
    read = RuleRead.model_validate(notify.create_rule(session, user_id=user_id, data=body))
    session.commit()
    return read


@router.delete(
    "/users/{user_id}/notification-rules/{rule_id}",
    status_code=204,
    responses=error_responses(401, 403, 404),
)
def delete_rule(
    user_id: PathId, rule_id: PathId, session: WriteSession, actor: CurrentUser
) -> Response:
    _self_or_admin(actor, user_id)
    notify.delete_rule(session, user_id=user_id, rule_id=rule_id)
    session.commit()
    return Response(status_code=204)


@router.post(
    "/users/{user_id}/notification-test",
    response_model=list[TestResult],
    responses=error_responses(401, 403, 404),
)
def notification_test(
    user_id: PathId, session: ReadSession, actor: CurrentUser, now: Now, request: Request
) -> list[TestResult]:
    """Send a test to each of the user's contact methods now and report each result."""
    _self_or_admin(actor, user_id)
    accounts.get_user(session, user_id=user_id)
    channels = channels_from_settings(request.app.state.settings, request.app.state.clock)
    results = []
    try:
        for method in notify.list_contact_methods(session, user_id=user_id):
            message = Message(
                idempotency_key=f"test-{method.id}-{int(now.timestamp())}",
                kind=MessageKind.TEST,
                title="Vigil test notification",
                summary="If you can read this, Vigil can reach you here.",
            )
            outcome = channels.send(
                Destination(notify.CHANNEL_OF[method.kind], method.address), message
            )
            results.append(
                TestResult(
                    contact_method_id=method.id,
                    kind=method.kind,
                    address=method.address,
                    ok=outcome.ok,
                    error=outcome.error,
                )
            )
    finally:
        channels.close()
    return results


# --- shared channels ------------------------------------------------------------------------


@router.get("/channels", response_model=list[ChannelRead], responses=error_responses(401))
def list_channels(session: ReadSession, _user: CurrentUser) -> list[ChannelRead]:
    return [ChannelRead.model_validate(c) for c in notify.list_channels(session)]


@router.post(
    "/channels",
    response_model=ChannelRead,
    status_code=201,
    responses=error_responses(401, 403, 409, 422),
)
def create_channel(
    body: ChannelCreate, session: WriteSession, _user: Admin, now: Now
) -> ChannelRead:
    """A Slack, Teams, webhook or email-list destination for policies and stakeholders."""
    read = ChannelRead.model_validate(notify.create_channel(session, data=body, now=now))
    session.commit()
    return read


@router.delete("/channels/{channel_id}", status_code=204, responses=error_responses(401, 403, 404))
def delete_channel(channel_id: PathId, session: WriteSession, _user: Admin) -> Response:
    notify.delete_channel(session, channel_id=channel_id)
    session.commit()
    return Response(status_code=204)


# --- paging actions on incidents ------------------------------------------------------------


class EscalateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: int = Field(ge=1, le=20, description="The level to page now, 1 for the first.")


class ReassignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: int | None = None
    escalation_policy_id: int | None = None


@router.get(
    "/incidents/{number}/escalation",
    response_model=EscalationRead,
    responses=error_responses(401, 404),
)
def escalation_plan(
    number: PathId, session: ReadSession, _user: CurrentUser, now: Now
) -> EscalationRead:
    """The running escalation and its plan: who each coming level reaches, and when."""
    incidents.get_incident(session, incident_id=number)
    pinned = escalation.get_escalation(session, incident_id=number)
    if pinned is None:
        raise NotFound(f"incident #{number} has no escalation", field="number")
    return EscalationRead(
        incident_id=number,
        policy_id=pinned.policy_id,
        policy_version=pinned.policy_version,
        state=pinned.state,
        next_level=pinned.next_level,
        cycle=pinned.cycle,
        next_at=pinned.next_at,
        plan=manager.plan(session, escalation=pinned, now=now),
    )


@router.get(
    "/incidents/{number}/notifications",
    response_model=list[NotificationRead],
    responses=error_responses(401, 404),
)
def incident_notifications(
    number: PathId, session: ReadSession, _user: CurrentUser
) -> list[NotificationRead]:
    """Every message planned for the incident, with its status, attempts and last error."""
    incidents.get_incident(session, incident_id=number)
    return [
        NotificationRead.model_validate(n)
        for n in notify.list_for_incident(session, incident_id=number)
    ]


@router.post(
    "/incidents/{number}/escalate",
    response_model=IncidentRead,
    responses=error_responses(401, 403, 404, 409, 422),
)
def escalate(
    number: PathId,
    body: EscalateRequest,
    session: WriteSession,
    user: Responder,
    now: Now,
    request: Request,
) -> IncidentRead:
    """Page a chosen level now; the escalation carries on from there."""
    incident = paging.escalate(
        session, incident_id=number, level=body.level, user_id=user.id, now=now
    )
    read = IncidentRead.model_validate(incident)
    session.commit()
    request.app.state.wake()
    return read


@router.post(
    "/incidents/{number}/reassign",
    response_model=IncidentRead,
    responses=error_responses(401, 403, 404, 409, 422),
)
def reassign(
    number: PathId,
    body: ReassignRequest,
    session: WriteSession,
    user: Responder,
    now: Now,
    request: Request,
) -> IncidentRead:
    """Hand the incident to a person (paged now) or another escalation policy."""
    if body.user_id is not None:
        accounts.get_user(session, user_id=body.user_id)
    incident = paging.reassign(
        session,
        incident_id=number,
        user_id=user.id,
        now=now,
        links=request.app.state.links,
        to_user_id=body.user_id,
        to_policy_id=body.escalation_policy_id,
    )
    read = IncidentRead.model_validate(incident)
    session.commit()
    request.app.state.wake()
    return read
