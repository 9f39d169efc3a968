"""ORM rows for incidents and their timeline events."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from vigil.storage.base import Base
from vigil.timeline.models import EventKind, IncidentEvent

__all__ = ["EventKind", "Incident", "IncidentEvent", "IncidentStatus", "Severity", "Urgency"]


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
