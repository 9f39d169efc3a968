"""ORM rows for incidents and their timeline events."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from vigil.storage.base import Base


class IncidentStatus(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Severity(StrEnum):
    """SEV1 is the worst; comparisons use the number."""

    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"

    @property
    def rank(self) -> int:
        return int(self.value[3])


class Urgency(StrEnum):
    HIGH = "high"
    LOW = "low"


class EventKind(StrEnum):
    CREATED = "created"
    ALERT_ADDED = "alert_added"
    ALERT_REFIRED = "alert_refired"
    ALERT_RESOLVED = "alert_resolved"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    SEVERITY_CHANGED = "severity_changed"
    NOTE = "note"


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        sa.Index("ix_incidents_service_status", "service_id", "status"),
        sa.Index("ix_incidents_created_at", "created_at"),
        sa.Index(
            "ix_incidents_open_group",
            "service_id",
            "group_key",
            sqlite_where=sa.text("status != 'resolved'"),
            postgresql_where=sa.text("status != 'resolved'"),
        ),
    )

    # The id is the per-installation incident number shown as #42.
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(1024))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    service_id: Mapped[int] = mapped_column(sa.ForeignKey("services.id", ondelete="CASCADE"))
    severity: Mapped[str] = mapped_column(sa.String(8))
    # Set once a person chooses the severity; from then on alerts no longer move it.
    severity_set_by_user: Mapped[bool] = mapped_column(default=False)
    urgency: Mapped[str] = mapped_column(sa.String(8))
    status: Mapped[str] = mapped_column(sa.String(16), default=IncidentStatus.TRIGGERED)
    group_key: Mapped[str | None] = mapped_column(sa.String(1024))
    alert_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    resolved_at: Mapped[datetime | None]
    resolved_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    @property
    def number(self) -> int:
        return self.id


class IncidentEvent(Base):
    """One entry on an incident's timeline; `actor_user_id` is null when Vigil itself acted."""

    __tablename__ = "incident_events"
    __table_args__ = (sa.Index("ix_incident_events_incident_at", "incident_id", "at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(32))
    at: Mapped[datetime]
    actor_user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    message: Mapped[str] = mapped_column(sa.Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
