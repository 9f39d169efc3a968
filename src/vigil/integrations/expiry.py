"""Prometheus alert expiry: a firing alert whose endsAt passed without a refresh resolves."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vigil.alerts.models import Alert, AlertStatus
from vigil.incidents.models import EventKind, IncidentEvent
from vigil.integrations.ingest import resolve_incidents_without_firing_alerts
from vigil.services.models import Service

BATCH = 1000


def expire_alerts(session: Session, *, now: datetime) -> int:
    """Resolve up to BATCH expired alerts, then the incidents left without firing alerts."""
    table = Alert.__table__
    expired = session.execute(
        sa.select(table.c.id, table.c.incident_id, table.c.summary, table.c.expires_at)
        .where(
            table.c.status == AlertStatus.FIRING,
            table.c.expires_at.is_not(None),
            table.c.expires_at <= now,
        )
        .order_by(table.c.expires_at)
        .limit(BATCH)
    ).all()
    if not expired:
        return 0
    ids = [row.id for row in expired]
    session.execute(
        table.update()
        .where(table.c.id.in_(ids), table.c.status == AlertStatus.FIRING)
        .values(status=AlertStatus.RESOLVED, resolved_at=table.c.expires_at)
    )
    events = [
        {
            "incident_id": row.incident_id,
            "kind": EventKind.ALERT_RESOLVED,
            "at": now,
            "actor_user_id": None,
            "message": f"Alert resolved: {row.summary} (not refreshed before it expired)",
            "data": {"alert_id": row.id, "expired": True},
        }
        for row in expired
        if row.incident_id is not None
    ]
    if events:
        session.execute(sa.insert(IncidentEvent.__table__), events)
    incident_ids = sorted({row.incident_id for row in expired if row.incident_id is not None})
    auto = set(
        session.scalars(
            sa.select(Alert.incident_id)
            .join(Service, Service.id == Alert.service_id)
            .where(Alert.id.in_(ids), Service.auto_resolve.is_(True))
        )
    )
    resolve_incidents_without_firing_alerts(
        session, incident_ids=[i for i in incident_ids if i in auto], now=now
    )
    return len(expired)
