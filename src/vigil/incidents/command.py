"""Incident command: declare by hand, move through the lifecycle, assess impact, hand roles
over, edit, merge and link. Functions over a session that never commit; every change lands on
the timeline with who did it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vigil.accounts.models import Role as AccountRole
from vigil.accounts.models import TeamMembership, User
from vigil.alerts.models import Alert
from vigil.errors import Conflict, NotFound, ValidationFailed
from vigil.escalation import service as escalation
from vigil.incidents import comms, lifecycle, paging
from vigil.incidents import service as incidents
from vigil.incidents.comms import CommandConfig
from vigil.incidents.impact import Impact, Suggestion, suggest_severity
from vigil.incidents.models import (
    EventKind,
    Incident,
    IncidentEvent,
    IncidentLink,
    IncidentRole,
    IncidentStatus,
    Role,
)
from vigil.services.models import Service
from vigil.timeline.service import record

SINGLE_HOLDER = {Role.COMMANDER, Role.TECHNICAL_LEAD, Role.COMMUNICATIONS_MANAGER, Role.SCRIBE}
ROLE_NAMES = {
    Role.COMMANDER: "incident commander",
    Role.TECHNICAL_LEAD: "technical lead",
    Role.COMMUNICATIONS_MANAGER: "communications manager",
    Role.SCRIBE: "scribe",
    Role.SUBJECT_MATTER_EXPERT: "subject matter expert",
}


def _user(session: Session, user_id: int, field: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise ValidationFailed(f"{field}: user {user_id} does not exist", field=field)
    return user


def _war_room(config: CommandConfig, number: int) -> str | None:
    if not config.war_room_template:
        return None
    return config.war_room_template.replace("{number}", str(number))


def ensure_access(session: Session, *, incident: Incident, user: User, field: str) -> None:
    """A role needs access to the incident's services: an admin, or a member of their teams."""
    if user.role == AccountRole.ADMIN:
        return
    if user.role == AccountRole.OBSERVER:
        raise ValidationFailed(
            f"{field}: {user.name} is an observer and cannot hold a role", field=field
        )
    service_ids = list(incident.affected_service_ids or []) or (
        [incident.service_id] if incident.service_id else []
    )
    team_ids = set(
        session.scalars(
            sa.select(Service.team_id).where(
                Service.id.in_(service_ids), Service.team_id.is_not(None)
            )
        )
    )
    if not team_ids:
        return
    member = session.scalar(
        sa.select(TeamMembership.team_id).where(
            TeamMembership.user_id == user.id, TeamMembership.team_id.in_(team_ids)
        )
    )
    if member is None:
        raise ValidationFailed(
            f"{field}: {user.name} is not in the team of the affected service", field=field
        )


def declare(
    session: Session,
    *,
    title: str,
    description: str,
    severity: str,
    service_ids: Sequence[int],
    commander_id: int | None,
    started_at: datetime | None,
    page: bool,
    actor: User,
    now: datetime,
    config: CommandConfig,
) -> Incident:
    """Open an incident by hand. The declarer is on it, so it starts investigating; with `page`
    it starts triggered and pages the first service's escalation policy instead."""
    for index, service_id in enumerate(service_ids):
        if session.get(Service, service_id) is None:
            raise ValidationFailed(
                f"services[{index}]: service {service_id} does not exist",
                field=f"services[{index}]",
            )
    first = session.get(Service, service_ids[0]) if service_ids else None
    status = IncidentStatus.TRIGGERED if page else IncidentStatus.INVESTIGATING
    incident = Incident(
        title=title,
        description=description,
        service_id=first.id if first else None,
        affected_service_ids=list(service_ids),
        severity=severity,
        severity_set_by_user=True,
        urgency=paging.urgency_of(first, severity)
        if first
        else "high"
        if severity in ("SEV1", "SEV2")
        else "low",
        status=status,
        group_key=None,
        alert_count=0,
        created_at=now,
        updated_at=now,
        started_at=started_at or now,
        detected_at=now,
        declared_by_id=actor.id,
        investigating_at=None if page else now,
        acknowledged_at=None if page else now,
        acknowledged_by_id=None if page else actor.id,
        impact={},
    )
    session.add(incident)
    session.flush()
    incident.war_room_url = _war_room(config, incident.number)
    record(
        session,
        incident_id=incident.id,
        kind=EventKind.DECLARED,
        now=now,
        actor_user_id=actor.id,
        message=f"Declared {severity} by {actor.name}: {title}",
        data={"services": list(service_ids)},
    )
    commander = _user(session, commander_id, "commander") if commander_id else actor
    ensure_access(session, incident=incident, user=commander, field="commander")
    assign_role(
        session, incident=incident, role=Role.COMMANDER, user=commander, actor=actor, now=now
    )
    comms.apply_plans(session, incidents=[incident], now=now)
    if page and first is not None:
        paging.start_paging(session, incident_ids=[incident.id], now=now, links=config.links)
    comms.notify_stakeholders(
        session,
        incident=incident,
        event="declared",
        body=f"{severity} declared: {title}" + (f"\n\n{description}" if description else ""),
        now=now,
        config=config,
    )
    session.flush()
    return incident


_INCIDENTS = Incident.__table__
# Built once: these run for every alert that opens an incident.
_SELECT_OPENED = sa.select(
    _INCIDENTS.c.id, _INCIDENTS.c.title, _INCIDENTS.c.service_id, _INCIDENTS.c.severity
).where(_INCIDENTS.c.id.in_(sa.bindparam("ids", expanding=True)))
_SET_WAR_ROOM = (
    _INCIDENTS.update()
    .where(_INCIDENTS.c.id == sa.bindparam("_id"))
    .values(war_room_url=sa.bindparam("url"))
)


def on_opened(
    session: Session,
    *,
    incident_ids: Sequence[int],
    now: datetime,
    config: CommandConfig,
    known: Sequence[paging.OpenedIncident] | None = None,
) -> None:
    """For incidents opened by alerts (ingest already set when impact began): war room,
    response plans and stakeholders as for a declared incident, in a few set-based statements.
    `known` saves reading back incidents the caller has just written."""
    if not incident_ids:
        return
    opened: Sequence[Any]
    if known is not None:
        wanted = set(incident_ids)
        opened = sorted((o for o in known if o.id in wanted), key=lambda o: o.id)
    else:
        opened = session.execute(_SELECT_OPENED, {"ids": sorted(incident_ids)}).all()
    war_rooms = {row.id: _war_room(config, row.id) for row in opened}  # the id is the number
    if config.war_room_template:
        session.execute(
            _SET_WAR_ROOM, [{"_id": row.id, "url": war_rooms[row.id]} for row in opened]
        )
    read = comms.opened_config(
        session, service_ids=[row.service_id for row in opened if row.service_id is not None]
    )
    comms.apply_plans(session, incidents=opened, now=now, plans=read.plans)
    comms.notify_stakeholders_of_opened(
        session,
        incidents=opened,
        war_rooms=war_rooms,
        now=now,
        config=config,
        service_names={o.service_id: o.service_name for o in known or ()},
        rules=read.rules,
    )


def change_status(
    session: Session,
    *,
    incident_id: int,
    status: str,
    message: str,
    actor: User,
    now: datetime,
    config: CommandConfig,
) -> Incident:
    """Move the incident to another phase; anything but an allowed move is refused (409),
    naming the allowed ones. Leaving `triggered` stops paging; resolving stops everything."""
    incident = incidents.get_incident(session, incident_id=incident_id)
    current = IncidentStatus(incident.status)
    target = IncidentStatus(status)
    if incident.merged_into_id is not None:
        raise Conflict(
            f"incident #{incident_id} was merged into #{incident.merged_into_id}", field="status"
        )
    if not lifecycle.is_allowed(current, target):
        allowed = [s.value for s in lifecycle.allowed_moves(current)]
        raise Conflict(
            f"cannot move from {current} to {target}; allowed: {', '.join(allowed)}",
            field="status",
            allowed=allowed,
        )
    if current == IncidentStatus.RESOLVED:
        assert incident.resolved_at is not None
        if now - incident.resolved_at > lifecycle.REOPEN_WINDOW:
            raise Conflict(
                f"incident #{incident_id} was resolved more than 7 days ago; declare a new one",
                field="status",
                allowed=[],
            )
        incident.resolved_at = None
        incident.resolved_by_id = None
        record(
            session,
            incident_id=incident_id,
            kind=EventKind.REOPENED,
            now=now,
            actor_user_id=actor.id,
            message=f"Reopened by {actor.name}" + (f": {message}" if message else ""),
        )
    if target == IncidentStatus.RESOLVED:
        incidents.resolve(session, incident_id=incident_id, user_id=actor.id, now=now, note=message)
        comms.notify_stakeholders(
            session,
            incident=incident,
            event="resolved",
            body=f"Resolved: {incident.title}" + (f"\n\n{message}" if message else ""),
            now=now,
            config=config,
        )
        return incident
    if target == IncidentStatus.ACKNOWLEDGED:
        return incidents.acknowledge(session, incident_id=incident_id, user_id=actor.id, now=now)
    if current == IncidentStatus.TRIGGERED:
        incident.acknowledged_at = incident.acknowledged_at or now
        incident.acknowledged_by_id = incident.acknowledged_by_id or actor.id
        paging.stop_paging(session, incident_ids=[incident_id], now=now, resolved=False)
    incident.status = target
    setattr(incident, lifecycle.PHASE_FIELD[target], now)
    incident.updated_at = now
    record(
        session,
        incident_id=incident_id,
        kind=EventKind.STATUS_CHANGED,
        now=now,
        actor_user_id=actor.id,
        message=f"{current} → {target}" + (f": {message}" if message else ""),
        data={"from": current, "to": target},
    )
    session.flush()
    return incident


def edit(
    session: Session, *, incident_id: int, changes: dict[str, Any], actor: User, now: datetime
) -> Incident:
    """Edit title, description, when impact began or was detected, or the war-room link."""
    incident = incidents.get_incident(session, incident_id=incident_id)
    if incident.status == IncidentStatus.RESOLVED:
        raise Conflict(f"incident #{incident_id} is resolved; reopen it first", field="status")
    for name, value in changes.items():
        setattr(incident, name, value)
    if "war_room_url" in changes:
        escalation.update_context(
            session, incident_id=incident_id, war_room_url=changes["war_room_url"]
        )
    incident.updated_at = now
    record(
        session,
        incident_id=incident_id,
        kind=EventKind.EDITED,
        now=now,
        actor_user_id=actor.id,
        message="Edited " + ", ".join(f"{k}" for k in changes),
        data={k: str(v) for k, v in changes.items()},
    )
    session.flush()
    return incident


def assess_impact(
    session: Session,
    *,
    incident_id: int,
    impact: Impact,
    actor: User,
    now: datetime,
    config: CommandConfig,
) -> Suggestion:
    """Record the impact assessment and return the severity it suggests; never changes it."""
    incident = incidents.get_incident(session, incident_id=incident_id)
    incident.impact = impact.model_dump(mode="json")
    incident.updated_at = now
    suggestion = suggest_severity(impact, config.thresholds)
    record(
        session,
        incident_id=incident_id,
        kind=EventKind.IMPACT_ASSESSED,
        now=now,
        actor_user_id=actor.id,
        message=f"Impact assessed: suggests {suggestion.severity} ({'; '.join(suggestion.reasons)})"
        + (
            f"; severity stays {incident.severity}"
            if suggestion.severity != incident.severity
            else ""
        ),
        data={"suggested": suggestion.severity, "reasons": list(suggestion.reasons)},
    )
    session.flush()
    return suggestion


def current_roles(session: Session, *, incident_id: int) -> list[IncidentRole]:
    return list(
        session.scalars(
            sa.select(IncidentRole)
            .where(IncidentRole.incident_id == incident_id, IncidentRole.ended_at.is_(None))
            .order_by(IncidentRole.role, IncidentRole.assigned_at)
        )
    )


def assign_role(
    session: Session, *, incident: Incident, role: Role, user: User, actor: User, now: datetime
) -> IncidentRole:
    """Give a role; a single-holder role held by someone else is handed over."""
    if incident.status == IncidentStatus.RESOLVED:
        raise Conflict(f"incident #{incident.id} is resolved", field="status")
    ensure_access(session, incident=incident, user=user, field="user")
    holders = [r for r in current_roles(session, incident_id=incident.id) if r.role == role]
    if any(r.user_id == user.id for r in holders):
        return next(r for r in holders if r.user_id == user.id)
    name = ROLE_NAMES[role]
    previous = holders[0] if role in SINGLE_HOLDER and holders else None
    if previous is not None:
        previous.ended_at = now
        before = session.get(User, previous.user_id)
        kind, message = (
            EventKind.ROLE_HANDED_OVER,
            f"{before.name if before else previous.user_id} handed {name} to {user.name}",
        )
    else:
        kind, message = EventKind.ROLE_ASSIGNED, f"{user.name} is {name}"
    held = IncidentRole(
        incident_id=incident.id,
        role=role,
        user_id=user.id,
        assigned_at=now,
        assigned_by_id=actor.id,
    )
    session.add(held)
    record(
        session,
        incident_id=incident.id,
        kind=kind,
        now=now,
        actor_user_id=actor.id,
        message=message,
        data={
            "role": role,
            "user_id": user.id,
            "from_user_id": previous.user_id if previous else None,
        },
    )
    session.flush()
    return held


def remove_role(
    session: Session, *, incident_id: int, role: Role, user_id: int, actor: User, now: datetime
) -> None:
    held = [
        r
        for r in current_roles(session, incident_id=incident_id)
        if r.role == role and r.user_id == user_id
    ]
    if not held:
        raise NotFound(f"user {user_id} does not hold {role} on #{incident_id}", field="user_id")
    held[0].ended_at = now
    user = session.get(User, user_id)
    record(
        session,
        incident_id=incident_id,
        kind=EventKind.ROLE_REMOVED,
        now=now,
        actor_user_id=actor.id,
        message=f"{user.name if user else user_id} is no longer {ROLE_NAMES[role]}",
        data={"role": role, "user_id": user_id},
    )
    session.flush()


def add_note(
    session: Session,
    *,
    incident_id: int,
    text: str,
    pinned: bool,
    occurred_at: datetime | None,
    actor: User,
    now: datetime,
) -> IncidentEvent:
    """A note; pinned ones are key events; one with `occurred_at` is backfilled, marked edited."""
    incidents.get_incident(session, incident_id=incident_id)
    if occurred_at is not None and occurred_at > now:
        raise ValidationFailed("occurred_at: cannot be in the future", field="occurred_at")
    event = record(
        session,
        incident_id=incident_id,
        kind=EventKind.NOTE,
        now=occurred_at or now,
        actor_user_id=actor.id,
        message=text,
    )
    event.pinned = pinned
    if occurred_at is not None:
        event.recorded_at = now
    session.flush()
    return event


def pin(session: Session, *, incident_id: int, event_id: int, pinned: bool) -> IncidentEvent:
    event = session.get(IncidentEvent, event_id)
    if event is None or event.incident_id != incident_id:
        raise NotFound(f"timeline entry {event_id} not found on #{incident_id}", field="event_id")
    event.pinned = pinned
    session.flush()
    return event


def merge(
    session: Session, *, source_id: int, target_id: int, actor: User, now: datetime
) -> Incident:
    """Merge `source` into `target`: its alerts and timeline move; it says "merged into #N"."""
    if source_id == target_id:
        raise ValidationFailed("into: an incident cannot be merged into itself", field="into")
    source = incidents.get_incident(session, incident_id=source_id)
    target = session.get(Incident, target_id)
    if target is None:
        raise ValidationFailed(f"into: incident #{target_id} does not exist", field="into")
    if source.merged_into_id is not None:
        raise Conflict(
            f"#{source_id} was already merged into #{source.merged_into_id}", field="number"
        )
    if target.merged_into_id is not None:
        raise Conflict(
            f"into: #{target_id} was merged into #{target.merged_into_id}; merge into that one",
            field="into",
        )
    moved_alerts = session.execute(
        sa.update(Alert).where(Alert.incident_id == source_id).values(incident_id=target_id)
    ).rowcount
    session.execute(
        sa.update(IncidentEvent)
        .where(IncidentEvent.incident_id == source_id)
        .values(incident_id=target_id)
    )
    target.alert_count += source.alert_count
    target.updated_at = now
    paging.stop_paging(session, incident_ids=[source_id], now=now, resolved=True)
    source.merged_into_id = target_id
    source.status = IncidentStatus.RESOLVED
    source.resolved_at = now
    source.resolved_by_id = actor.id
    source.alert_count = 0
    source.updated_at = now
    record(
        session,
        incident_id=source_id,
        kind=EventKind.MERGED,
        now=now,
        actor_user_id=actor.id,
        message=f"Merged into #{target_id}",
        data={"into": target_id},
    )
    record(
        session,
        incident_id=target_id,
        kind=EventKind.MERGED,
        now=now,
        actor_user_id=actor.id,
        message=f"#{source_id} merged into this incident ({moved_alerts} alert(s), its timeline)",
        data={"from": source_id},
    )
    session.flush()
    return target


def link(
    session: Session, *, incident_id: int, related_id: int, actor: User, now: datetime
) -> None:
    if incident_id == related_id:
        raise ValidationFailed("incident: cannot relate an incident to itself", field="incident")
    incidents.get_incident(session, incident_id=incident_id)
    if session.get(Incident, related_id) is None:
        raise ValidationFailed(f"incident: #{related_id} does not exist", field="incident")
    low, high = sorted((incident_id, related_id))
    if session.get(IncidentLink, (low, high)) is None:
        session.add(IncidentLink(incident_id=low, related_id=high))
        for one, other in ((incident_id, related_id), (related_id, incident_id)):
            record(
                session,
                incident_id=one,
                kind=EventKind.LINKED,
                now=now,
                actor_user_id=actor.id,
                message=f"Related to #{other}",
                data={"related": other},
            )
    session.flush()


def related(session: Session, *, incident_id: int) -> list[int]:
    rows = session.execute(
        sa.select(IncidentLink.incident_id, IncidentLink.related_id).where(
            sa.or_(IncidentLink.incident_id == incident_id, IncidentLink.related_id == incident_id)
        )
    ).all()
    return sorted(b if a == incident_id else a for a, b in rows)
