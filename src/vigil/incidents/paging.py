"""Where incidents meet escalation: start paging when an incident opens, stop it when someone
acknowledges or resolves, re-evaluate when severity rises, and the acknowledgement timeout."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vigil.alerts.severity import urgency_for
from vigil.errors import Conflict, NotFound, ValidationFailed
from vigil.escalation import manager
from vigil.escalation import service as escalation
from vigil.escalation.models import EscalationState, IncidentEscalation
from vigil.escalation.service import IncidentContext
from vigil.incidents.models import EventKind, Incident, IncidentStatus, in_hand
from vigil.notify import service as notify
from vigil.notify.service import LinkConfig, PageContent
from vigil.services.models import Service
from vigil.timeline.service import record


def urgency_of(service: Service, severity: str) -> str:
    """SEV1–2 page (high), SEV3–4 notify (low), unless the service maps them otherwise."""
    mapped = (service.urgency_mapping or {}).get(severity)
    return mapped if mapped in ("high", "low") else urgency_for(severity)


def context_of(incident: Incident, service: Service) -> IncidentContext:
    return IncidentContext(
        incident_id=incident.id,
        number=incident.number,
        title=incident.title,
        severity=incident.severity,
        urgency=incident.urgency,
        service_id=service.id,
        service_name=service.name,
        support_hours=service.support_hours,
    )


_INCIDENTS, _SERVICES = Incident.__table__, Service.__table__
# Core columns, built once: this runs for every alert that opens an incident.
_SELECT_PAGING_CONTEXT = (
    sa.select(
        _INCIDENTS.c.id,
        _INCIDENTS.c.title,
        _INCIDENTS.c.severity,
        _INCIDENTS.c.urgency,
        _SERVICES.c.id.label("service_id"),
        _SERVICES.c.name.label("service_name"),
        _SERVICES.c.support_hours,
        _SERVICES.c.escalation_policy_id,
    )
    .join(_SERVICES, _SERVICES.c.id == _INCIDENTS.c.service_id)
    .where(
        _INCIDENTS.c.id.in_(sa.bindparam("ids", expanding=True)),
        _SERVICES.c.escalation_policy_id.is_not(None),
    )
)


@dataclass(frozen=True, slots=True)
class OpenedIncident:
    """A new incident as its opener wrote it, so paging and incident command need not read it
    back (the columns of `_SELECT_PAGING_CONTEXT`)."""

    id: int
    title: str
    severity: str
    urgency: str
    service_id: int
    service_name: str
    support_hours: Any
    escalation_policy_id: int | None


def start_paging(
    session: Session,
    *,
    incident_ids: Sequence[int],
    now: datetime,
    links: LinkConfig,
    opened: Sequence[OpenedIncident] | None = None,
) -> bool:
    """Pin each new incident to its service's escalation policy and tell management of SEV1/2;
    True when any escalation started (so the worker has work). `opened` saves reading back
    incidents the caller has just written."""
    if not incident_ids:
        return False
    rows: Sequence[Any]
    if opened is not None:
        wanted = set(incident_ids)
        rows = [o for o in opened if o.id in wanted and o.escalation_policy_id is not None]
    else:
        rows = session.execute(_SELECT_PAGING_CONTEXT, {"ids": sorted(incident_ids)}).all()
    by_policy: dict[int, list[IncidentContext]] = {}
    for row in rows:
        by_policy.setdefault(row.escalation_policy_id, []).append(
            IncidentContext(
                incident_id=row.id,
                number=row.id,  # the id is the incident's number
                title=row.title,
                severity=row.severity,
                urgency=row.urgency,
                service_id=row.service_id,
                service_name=row.service_name,
                support_hours=row.support_hours,
            )
        )
    for policy_id, contexts in by_policy.items():
        policy = escalation.policy_row(session, policy_id=policy_id)
        escalation.start(session, contexts=contexts, policy=policy, now=now)
        if policy.management_targets:
            for context in contexts:
                if context.severity in ("SEV1", "SEV2"):
                    pinned = escalation.get_escalation(session, incident_id=context.incident_id)
                    assert pinned is not None
                    manager.notify_management(
                        session, escalation=pinned, now=now, links=links, reason="opened"
                    )
    return bool(by_policy)


def stop_paging(
    session: Session, *, incident_ids: Sequence[int], now: datetime, resolved: bool
) -> None:
    escalation.stop(session, incident_ids=incident_ids, now=now, resolved=resolved)


def severity_changed(
    session: Session,
    *,
    incident: Incident,
    previous: str,
    now: datetime,
    links: LinkConfig,
) -> None:
    """Keep pages current; a rise into SEV1/2 tells management, low → high urgency pages now."""
    service = session.get(Service, incident.service_id) if incident.service_id is not None else None
    if service is None:
        return
    previous_urgency = incident.urgency
    incident.urgency = urgency_of(service, incident.severity)
    pinned = escalation.get_escalation(session, incident_id=incident.id)
    if pinned is None:
        return
    escalation.update_context(
        session, incident_id=incident.id, severity=incident.severity, urgency=incident.urgency
    )
    worse = int(incident.severity[3]) < int(previous[3])
    if worse and incident.severity in ("SEV1", "SEV2"):
        manager.notify_management(
            session, escalation=pinned, now=now, links=links, reason=f"raised from {previous}"
        )
    if (
        worse
        and previous_urgency == "low"
        and incident.urgency == "high"
        and incident.status == IncidentStatus.TRIGGERED
    ):
        escalation.restart(session, incident_id=incident.id, now=now, level=0)


def escalate(
    session: Session, *, incident_id: int, level: int, user_id: int, now: datetime
) -> Incident:
    """Page a chosen level now (1-based), by hand; the escalation carries on from there."""
    incident = _open(session, incident_id)
    escalation.restart(session, incident_id=incident_id, now=now, level=level - 1)
    if incident.status == IncidentStatus.ACKNOWLEDGED:
        incident.status = IncidentStatus.TRIGGERED
    incident.updated_at = now
    record(
        session,
        incident_id=incident_id,
        kind=EventKind.ESCALATED,
        now=now,
        actor_user_id=user_id,
        message=f"Escalated by hand to level {level}",
        data={"level": level - 1, "manual": True},
    )
    session.flush()
    return incident


def reassign(
    session: Session,
    *,
    incident_id: int,
    user_id: int,
    now: datetime,
    links: LinkConfig,
    to_user_id: int | None = None,
    to_policy_id: int | None = None,
) -> Incident:
    """Hand the incident to a person (paged now) or to another policy (started afresh)."""
    if (to_user_id is None) == (to_policy_id is None):
        raise ValidationFailed(
            "give exactly one of user_id or escalation_policy_id", field="user_id"
        )
    incident = _open(session, incident_id)
    service = session.get(Service, incident.service_id)
    assert service is not None
    pinned = escalation.get_escalation(session, incident_id=incident_id)
    if pinned is not None:
        session.delete(pinned)
        session.flush()
    notify.cancel_pending(session, incident_ids=[incident_id])
    incident.status = IncidentStatus.TRIGGERED
    incident.updated_at = now
    if to_policy_id is not None:
        policy = escalation.get_policy(session, policy_id=to_policy_id)
        escalation.start(session, contexts=[context_of(incident, service)], policy=policy, now=now)
        message = f"Reassigned to escalation policy {policy.name}"
    else:
        assert to_user_id is not None
        notify.plan_pages(
            session,
            page=PageContent(
                incident.id, incident.number, incident.title, incident.severity, service.name
            ),
            user_ids=[to_user_id],
            urgency=incident.urgency,
            key_prefix=f"inc{incident.id}-reassign-{int(now.timestamp() * 1000)}-"
            f"{secrets.token_hex(4)}",
            level=None,
            kind="page",
            now=now,
            links=links,
        )
        message = f"Reassigned to user {to_user_id}"
    record(
        session,
        incident_id=incident_id,
        kind=EventKind.REASSIGNED,
        now=now,
        actor_user_id=user_id,
        message=message,
        data={"user_id": to_user_id, "policy_id": to_policy_id},
    )
    session.flush()
    return incident


def _open(session: Session, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"incident #{incident_id} not found", field="incident_id")
    if incident.status == IncidentStatus.RESOLVED:
        raise Conflict(f"incident #{incident_id} is resolved", field="status")
    return incident


def ack_timeouts(session: Session, *, now: datetime) -> int:
    """Acknowledged too long without a resolve: back to triggered, escalation from level 1."""
    rows = session.execute(
        sa.select(Incident, Service.ack_timeout_minutes)
        .join(Service, Service.id == Incident.service_id)
        .where(
            Incident.status == IncidentStatus.ACKNOWLEDGED,
            in_hand(),  # implied by the status: lets the engine use the index of incidents in hand
            Service.ack_timeout_minutes.is_not(None),
            Incident.acknowledged_at.is_not(None),
        )
    ).all()
    count = 0
    for incident, minutes in rows:
        assert incident.acknowledged_at is not None
        if incident.acknowledged_at + timedelta(minutes=minutes) > now:
            continue
        incident.status = IncidentStatus.TRIGGERED
        incident.acknowledged_at = None
        incident.acknowledged_by_id = None
        incident.updated_at = now
        pinned = session.get(IncidentEscalation, incident.id)
        if pinned is not None:
            pinned.state = EscalationState.ACTIVE
            pinned.next_level = 0
            pinned.cycle = 0
            pinned.next_at = now
            pinned.updated_at = now
        record(
            session,
            incident_id=incident.id,
            kind=EventKind.ACK_TIMEOUT,
            now=now,
            message=f"Acknowledged {minutes} min ago and not resolved: triggered again",
        )
        count += 1
    session.flush()
    return count
