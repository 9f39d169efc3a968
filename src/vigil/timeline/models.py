"""The incident timeline: one ordered stream that every capability writes to, in the same
transaction as the change it records."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from vigil.storage.base import Base


class EventKind(StrEnum):
    CREATED = "created"
    ALERT_ADDED = "alert_added"
    ALERT_REFIRED = "alert_refired"
    ALERT_RESOLVED = "alert_resolved"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    SEVERITY_CHANGED = "severity_changed"
    NOTE = "note"
    ESCALATED = "escalated"
    NOTIFIED = "notified"
    NOTIFY_FAILED = "notify_failed"
    REASSIGNED = "reassigned"
    ACK_TIMEOUT = "ack_timeout"
    DECLARED = "declared"
    STATUS_CHANGED = "status_changed"
    REOPENED = "reopened"
    ROLE_ASSIGNED = "role_assigned"
    ROLE_HANDED_OVER = "role_handed_over"
    ROLE_REMOVED = "role_removed"
    STATUS_UPDATE = "status_update"
    TASK_ADDED = "task_added"
    TASK_UPDATED = "task_updated"
    IMPACT_ASSESSED = "impact_assessed"
    UPDATE_OVERDUE = "update_overdue"
    MERGED = "merged"
    LINKED = "linked"
    EDITED = "edited"


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
    pinned: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Set when the entry was written later than `at` (a backfilled event): shown as edited.
    recorded_at: Mapped[datetime | None]
