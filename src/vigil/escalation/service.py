"""Escalation policies and each incident's running escalation: start, stop, restart, escalate by
hand, reassign. Functions over a session that never commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vigil.accounts.models import Team, TeamMembership, User
from vigil.errors import Conflict, NotFound, ValidationFailed
from vigil.escalation.models import (
    EscalationPolicy,
    EscalationState,
    IncidentEscalation,
    TargetType,
)
from vigil.escalation.planner import SupportHours
from vigil.escalation.schemas import PolicyCreate, PolicyUpdate, Target
from vigil.notify import service as notify
from vigil.notify.models import ChannelDestination
from vigil.schedules.models import Schedule
from vigil.storage.db import is_postgres


@dataclass(frozen=True, slots=True)
class IncidentContext:
    """What escalation needs to know about an incident, handed down by the incidents layer."""

    incident_id: int
    number: int
    title: str
    severity: str
    urgency: str
    service_id: int
    service_name: str
    support_hours: dict[str, Any] | None = None
    war_room_url: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "title": self.title,
            "severity": self.severity,
            "urgency": self.urgency,
            "service_id": self.service_id,
            "service_name": self.service_name,
            "support_hours": self.support_hours,
            "war_room_url": self.war_room_url,
        }


# --- policies ------------------------------------------------------------------------------


def _check_targets(session: Session, targets: Sequence[Target], field: str) -> None:
    models: dict[TargetType, Any] = {
        TargetType.USER: User,
        TargetType.SCHEDULE: Schedule,
        TargetType.TEAM: Team,
        TargetType.CHANNEL: ChannelDestination,
    }
    for index, target in enumerate(targets):
        if session.get(models[target.type], target.id) is None:
            raise ValidationFailed(
                f"{field}[{index}]: {target.type} {target.id} does not exist",
                field=f"{field}[{index}].id",
            )


def _check_levels(session: Session, data: PolicyCreate | PolicyUpdate) -> None:
    for index, level in enumerate(data.levels or []):
        _check_targets(session, level.targets, f"levels[{index}].targets")
    _check_targets(session, data.management_targets or [], "management_targets")
    if data.team_id is not None and session.get(Team, data.team_id) is None:
        raise ValidationFailed(f"team {data.team_id} does not exist", field="team_id")


def create_policy(session: Session, *, data: PolicyCreate, now: datetime) -> EscalationPolicy:
    if session.scalar(sa.select(EscalationPolicy.id).where(EscalationPolicy.name == data.name)):
        raise Conflict(f"an escalation policy named {data.name!r} already exists", field="name")
    _check_levels(session, data)
    policy = EscalationPolicy(
        name=data.name,
        description=data.description,
        team_id=data.team_id,
        levels=[level.model_dump(mode="json") for level in data.levels],
        repeat=data.repeat,
        management_targets=[t.model_dump(mode="json") for t in data.management_targets],
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(policy)
    session.flush()
    return policy


def update_policy(
    session: Session, *, policy_id: int, data: PolicyUpdate, now: datetime
) -> EscalationPolicy:
    """Edit a policy; running escalations keep the version they started with."""
    policy = get_policy(session, policy_id=policy_id)
    _check_levels(session, data)
    changes = data.model_dump(exclude_unset=True, mode="json")
    if changes.get("name") and changes["name"] != policy.name:
        taken = session.scalar(
            sa.select(EscalationPolicy.id).where(EscalationPolicy.name == changes["name"])
        )
        if taken:
            raise Conflict(
                f"an escalation policy named {changes['name']!r} already exists", field="name"
            )
    for name, value in changes.items():
        if value is None and name != "team_id":
            raise ValidationFailed(f"{name} cannot be null", field=name)
        setattr(policy, name, value)
    policy.version += 1
    policy.updated_at = now
    session.flush()
    return policy


def get_policy(session: Session, *, policy_id: int) -> EscalationPolicy:
    policy = session.get(EscalationPolicy, policy_id)
    if policy is None:
        raise NotFound(f"escalation policy {policy_id} not found", field="policy_id")
    return policy


_POLICIES = EscalationPolicy.__table__
_SELECT_POLICY = sa.select(_POLICIES).where(_POLICIES.c.id == sa.bindparam("policy_id"))
_INSERT_ESCALATIONS = sa.insert(IncidentEscalation.__table__)


def policy_row(session: Session, *, policy_id: int) -> sa.Row[Any]:
    """The policy's columns, read-only and without an ORM object: paging reads it for every new
    incident."""
    policy = session.execute(_SELECT_POLICY, {"policy_id": policy_id}).first()
    if policy is None:
        raise NotFound(f"escalation policy {policy_id} not found", field="policy_id")
    return policy


def list_policies(session: Session) -> list[EscalationPolicy]:
    return list(session.scalars(sa.select(EscalationPolicy).order_by(EscalationPolicy.name)))


def delete_policy(session: Session, *, policy_id: int) -> None:
    session.delete(get_policy(session, policy_id=policy_id))
    session.flush()


def snapshot(policy: EscalationPolicy | sa.Row[Any]) -> dict[str, Any]:
    return {
        "name": policy.name,
        "levels": policy.levels,
        "repeat": policy.repeat,
        "management_targets": policy.management_targets,
    }


# --- running escalations -------------------------------------------------------------------


def start(
    session: Session,
    *,
    contexts: Sequence[IncidentContext],
    policy: EscalationPolicy | sa.Row[Any],
    now: datetime,
) -> None:
    """Pin each incident to the policy as it is now; the worker fires level 0 right away, or,
    for low urgency outside support hours, when support hours begin."""
    if not contexts:
        return
    pinned = snapshot(policy)
    rows = []
    for context in contexts:
        next_at, state = now, EscalationState.ACTIVE
        hours = SupportHours.from_json(context.support_hours)
        if context.urgency == "low" and hours is not None and not hours.contains(now):
            next_at, state = hours.next_start(now), EscalationState.WAITING
        rows.append(
            {
                "incident_id": context.incident_id,
                "policy_id": policy.id,
                "policy_version": policy.version,
                "snapshot": {**pinned, "context": context.as_json()},
                "state": state,
                "next_level": 0,
                "cycle": 0,
                "next_at": next_at,
                "started_at": now,
                "updated_at": now,
                "last_fired_at": None,
            }
        )
    session.execute(_INSERT_ESCALATIONS, rows)
    wake_workers(session)


def wake_workers(session: Session) -> None:
    """Ask every worker (LISTEN vigil_wake) to run a cycle as soon as this transaction commits."""
    if is_postgres(session):
        session.execute(sa.text("NOTIFY vigil_wake"))


def get_escalation(session: Session, *, incident_id: int) -> IncidentEscalation | None:
    return session.get(IncidentEscalation, incident_id)


def stop(session: Session, *, incident_ids: Sequence[int], now: datetime, resolved: bool) -> None:
    """Stop escalating (acknowledged or resolved) and cancel what was not sent yet."""
    ids = sorted(set(incident_ids))
    if not ids:
        return
    session.execute(
        sa.update(IncidentEscalation)
        .where(IncidentEscalation.incident_id.in_(ids))
        .values(state=EscalationState.STOPPED, next_at=None, updated_at=now)
    )
    # Stakeholder updates still go out after a resolve; pages and reminders do not.
    kinds = ("page", "management", "event", "reminder") if resolved else ("page",)
    notify.cancel_pending(session, incident_ids=ids, kinds=kinds)


def restart(
    session: Session, *, incident_id: int, now: datetime, level: int = 0
) -> IncidentEscalation:
    """Fire `level` now and carry on from there (ack timeout, manual escalation)."""
    escalation = session.get(IncidentEscalation, incident_id)
    if escalation is None:
        raise Conflict(f"incident #{incident_id} has no escalation policy", field="incident_id")
    levels = escalation.snapshot["levels"]
    if not 0 <= level < len(levels):
        raise ValidationFailed(f"level: the policy has levels 1 to {len(levels)}", field="level")
    escalation.state = EscalationState.ACTIVE
    escalation.next_level = level
    escalation.cycle = 0  # a restart is a fresh run, as the ack timeout's is
    escalation.next_at = now
    escalation.updated_at = now
    session.flush()
    return escalation


def update_context(session: Session, *, incident_id: int, **changes: Any) -> None:
    """Keep what pages say in step with the incident (a new severity, a war-room link)."""
    escalation = session.get(IncidentEscalation, incident_id)
    if escalation is None:
        return
    escalation.snapshot = {
        **escalation.snapshot,
        "context": {**escalation.snapshot["context"], **changes},
    }
    session.flush()


def team_member_ids(session: Session, team_ids: Sequence[int]) -> dict[int, list[int]]:
    rows = session.execute(
        sa.select(TeamMembership.team_id, TeamMembership.user_id)
        .where(TeamMembership.team_id.in_(sorted(set(team_ids))))
        .order_by(TeamMembership.user_id)
    ).all()
    members: dict[int, list[int]] = {}
    for team_id, user_id in rows:
        members.setdefault(team_id, []).append(user_id)
    return members
