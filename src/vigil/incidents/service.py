"""Incidents for people: list, read, acknowledge, resolve, set severity, add notes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vigil.alerts.dedup import delete_alerts_of_service
from vigil.alerts.models import Alert, AlertStatus
from vigil.errors import Conflict, NotFound
from vigil.incidents import comms, paging
from vigil.incidents.comms import CommandConfig
from vigil.incidents.models import EventKind, Incident, IncidentStatus
from vigil.services import service as services
from vigil.storage.pagination import parse_cursor
from vigil.timeline.models import IncidentEvent
from vigil.timeline.service import record

PAGE_LIMIT_MAX = 200


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    statuses: tuple[str, ...] = ()
    service_id: int | None = None
    severities: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


def list_incidents(
    session: Session, *, filters: IncidentFilter, limit: int = 50, cursor: str | None = None
) -> tuple[list[Incident], str | None]:
    """Newest first, `limit` at a time; the cursor is the last id seen."""
    query = sa.select(Incident).order_by(Incident.id.desc()).limit(limit + 1)
    if filters.statuses:
        query = query.where(Incident.status.in_(filters.statuses))
    if filters.service_id is not None:
        query = query.where(Incident.service_id == filters.service_id)
    if filters.severities:
        query = query.where(Incident.severity.in_(filters.severities))
    if filters.since is not None:
        query = query.where(Incident.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(Incident.created_at < filters.until)
    after = parse_cursor(cursor)
    if after is not None:
        query = query.where(Incident.id < after)
    rows = list(session.scalars(query))
    next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def get_incident(session: Session, *, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"incident #{incident_id} not found", field="incident_id")
    return incident


def incident_alerts(session: Session, *, incident_id: int) -> list[Alert]:
    return list(
        session.scalars(sa.select(Alert).where(Alert.incident_id == incident_id).order_by(Alert.id))
    )


def timeline(session: Session, *, incident_id: int) -> list[IncidentEvent]:
    return list(
        session.scalars(
            sa.select(IncidentEvent)
            .where(IncidentEvent.incident_id == incident_id)
            .order_by(IncidentEvent.at, IncidentEvent.id)
        )
    )


def acknowledge(session: Session, *, incident_id: int, user_id: int, now: datetime) -> Incident:
    """Acknowledge the incident as a whole; acknowledging twice changes nothing."""
    incident = get_incident(session, incident_id=incident_id)
    if incident.status == IncidentStatus.RESOLVED:
        raise Conflict(f"incident #{incident_id} is already resolved", field="status")
    if incident.status == IncidentStatus.ACKNOWLEDGED:
        return incident
    incident.status = IncidentStatus.ACKNOWLEDGED
    incident.acknowledged_at = now
    incident.acknowledged_by_id = user_id
    incident.updated_at = now
    paging.stop_paging(session, incident_ids=[incident_id], now=now, resolved=False)
    record(
        session,
        incident_id=incident_id,
        kind=EventKind.ACKNOWLEDGED,
        now=now,
        actor_user_id=user_id,
        message="Acknowledged",
    )
    session.flush()
    return incident


def resolve(
    session: Session, *, incident_id: int, user_id: int | None, now: datetime, note: str = ""
) -> Incident:
    """Resolve the incident and every alert of it still firing; resolving twice changes nothing."""
    incident = get_incident(session, incident_id=incident_id)
    if incident.status == IncidentStatus.RESOLVED:
        return incident
    session.execute(
        sa.update(Alert)
        .where(Alert.incident_id == incident_id, Alert.open_marker == 1)  # the firing ones
        .values(status=AlertStatus.RESOLVED, resolved_at=now)
    )
    incident.status = IncidentStatus.RESOLVED
    incident.resolved_at = now
    incident.resolved_by_id = user_id
    incident.updated_at = now
    paging.stop_paging(session, incident_ids=[incident_id], now=now, resolved=True)
    record(
        session,
        incident_id=incident_id,
        kind=EventKind.RESOLVED,
        now=now,
        actor_user_id=user_id,
        message=f"Resolved: {note}" if note else "Resolved",
    )
    session.flush()
    return incident


def set_severity(
    session: Session,
    *,
    incident_id: int,
    severity: str,
    user_id: int,
    reason: str,
    now: datetime,
    config: CommandConfig,
) -> Incident:
    """A person sets the severity; from then on alerts no longer change it."""
    incident = get_incident(session, incident_id=incident_id)
    if incident.status == IncidentStatus.RESOLVED:
        raise Conflict(f"incident #{incident_id} is resolved", field="status")
    previous = incident.severity
    incident.severity = severity
    incident.severity_set_by_user = True
    incident.updated_at = now
    if previous != severity:
        paging.severity_changed(
            session, incident=incident, previous=previous, now=now, links=config.links
        )
        because = f" because {reason}" if reason else ""
        record(
            session,
            incident_id=incident_id,
            kind=EventKind.SEVERITY_CHANGED,
            now=now,
            actor_user_id=user_id,
            message=f"Severity changed from {previous} to {severity}{because}",
            data={"from": previous, "to": severity, "reason": reason},
        )
        comms.notify_stakeholders(
            session,
            incident=incident,
            event="severity_changed",
            body=f"Severity changed from {previous} to {severity}{because}",
            now=now,
            config=config,
        )
    session.flush()
    return incident


def delete_service(session: Session, *, service_id: int) -> None:
    """Delete a service, refused while it has open incidents (they would lose their home).

    The service is locked first, so no ingest opens an incident or adds an alert between the
    check and the delete. Its alerts go by hand: they refer to it without a foreign key
    (migration 0011), as alerts refer to incidents on PostgreSQL (0013).
    """
    services.lock_service(session, service_id=service_id)
    open_count = session.scalar(
        sa.select(sa.func.count())
        .select_from(Incident)
        .where(Incident.service_id == service_id, Incident.status != IncidentStatus.RESOLVED)
    )
    if open_count:
        raise Conflict(
            f"service {service_id} has {open_count} open incident(s); resolve them first",
            field="service_id",
        )
    delete_alerts_of_service(session, service_id)
    # Alerts of other services merged into its incidents stay, without an incident (on
    # PostgreSQL no foreign key does this: migration 0013).
    its_incidents = sa.select(Incident.id).where(Incident.service_id == service_id)
    session.execute(
        sa.update(Alert).where(Alert.incident_id.in_(its_incidents)).values(incident_id=None)
    )
    services.delete_service(session, service_id=service_id)
