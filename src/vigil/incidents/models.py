"""ORM rows for incidents and their timeline events."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from vigil.storage.base import Base
from vigil.timeline.models import EventKind, IncidentEvent

__all__ = [
    "EventKind",
    "Incident",
    "IncidentEvent",
    "IncidentStatus",
    "Severity",
    "Urgency",
    "in_hand",
]


class IncidentStatus(StrEnum):
    """The lifecycle, in order; `lifecycle.ALLOWED` says which moves are allowed."""

    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
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


# Incidents someone has in hand: acknowledged, or in one of incident command's phases. The
# engine looks for them every few seconds (ack timeouts, overdue stakeholder updates) while it
# holds SQLite's write lock; new incidents (triggered) and old ones (resolved), nearly all of
# them after a storm, stay out of its index. Queries repeat this text (`in_hand()`): SQLite and
# PostgreSQL use a partial index only for a query whose condition contains the index's own.
IN_HAND_SQL = f"status NOT IN ('{IncidentStatus.TRIGGERED}', '{IncidentStatus.RESOLVED}')"


def in_hand() -> sa.TextClause:
    """The condition of `ix_incidents_in_hand`, as a query must state it for the index."""
    return sa.text(f"incidents.{IN_HAND_SQL}")


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        sa.Index("ix_incidents_service_status", "service_id", "status"),
        sa.Index("ix_incidents_created_at", "created_at"),
        sa.Index(
            "ix_incidents_in_hand",
            "status",
            "severity",
            sqlite_where=sa.text(IN_HAND_SQL),
            postgresql_where=sa.text(IN_HAND_SQL),
        ),
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
    service_id: Mapped[int | None] = mapped_column(sa.ForeignKey("services.id", ondelete="CASCADE"))
    # Declared incidents may affect several services; the first is `service_id`.
    affected_service_ids: Mapped[list[Any]] = mapped_column(default=list)
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
    # Incident command: when impact began and was detected, when each phase began.
    started_at: Mapped[datetime | None]
    detected_at: Mapped[datetime | None]
    investigating_at: Mapped[datetime | None]
    identified_at: Mapped[datetime | None]
    monitoring_at: Mapped[datetime | None]
    declared_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    war_room_url: Mapped[str | None] = mapped_column(sa.String(2048))
    impact: Mapped[dict[str, Any]] = mapped_column(default=dict)
    merged_into_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="SET NULL")
    )
    last_stakeholder_update_at: Mapped[datetime | None]
    update_reminded_at: Mapped[datetime | None]

    @property
    def number(self) -> int:
        return self.id


class Role(StrEnum):
    COMMANDER = "commander"
    TECHNICAL_LEAD = "technical_lead"
    COMMUNICATIONS_MANAGER = "communications_manager"
    SCRIBE = "scribe"
    SUBJECT_MATTER_EXPERT = "subject_matter_expert"


class IncidentRole(Base):
    """Who holds a role, from when to when: handovers end one row and start the next."""

    __tablename__ = "incident_roles"
    __table_args__ = (sa.Index("ix_incident_roles_incident", "incident_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(sa.String(32))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    assigned_at: Mapped[datetime]
    assigned_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    ended_at: Mapped[datetime | None]


class StatusUpdate(Base):
    __tablename__ = "status_updates"
    __table_args__ = (sa.Index("ix_status_updates_incident", "incident_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"))
    audience: Mapped[str] = mapped_column(sa.String(16))  # internal, stakeholders, public
    phase: Mapped[str] = mapped_column(sa.String(16))
    message: Mapped[str] = mapped_column(sa.Text)
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]


class Task(Base):
    __tablename__ = "incident_tasks"
    __table_args__ = (sa.Index("ix_incident_tasks_incident", "incident_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(sa.String(500))
    status: Mapped[str] = mapped_column(sa.String(16), default="open")  # open, done, skipped
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    due_at: Mapped[datetime | None]
    from_plan_id: Mapped[int | None]
    created_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    completed_at: Mapped[datetime | None]


class ResponsePlan(Base):
    """For a service and severities: a runbook link and a checklist that becomes tasks."""

    __tablename__ = "response_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(
        sa.ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(100))
    severities: Mapped[list[Any]]
    runbook_url: Mapped[str | None] = mapped_column(sa.String(2048))
    checklist: Mapped[list[Any]]
    created_at: Mapped[datetime]


class StakeholderRule(Base):
    """Per severity, which shared channel (email list, Slack, Teams, webhook) hears about what."""

    __tablename__ = "stakeholder_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    severity: Mapped[str] = mapped_column(sa.String(8))
    channel_id: Mapped[int] = mapped_column(
        sa.ForeignKey("channel_destinations.id", ondelete="CASCADE")
    )
    # Which moments: declared, severity_changed, update, resolved.
    events: Mapped[list[Any]]
    created_at: Mapped[datetime]


class AnnouncementWindow(Base):
    """How many alert-opened incidents a stakeholder channel heard of in one window of time.

    An alert storm that opens a thousand SEV1 incidents must not send a thousand emails to the
    executives' list: each channel hears of the first few (`CommandConfig.announce_burst`)
    individually, and of the rest (`held`) in one digest when the window ends
    (`comms.post_announcement_digests`). `digested` is how many of the held ones a digest has
    covered, so one that arrives after the digest went out gets a digest of its own.
    """

    __tablename__ = "announcement_windows"

    channel_id: Mapped[int] = mapped_column(
        sa.ForeignKey("channel_destinations.id", ondelete="CASCADE"), primary_key=True
    )
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    window_end: Mapped[datetime]
    opened: Mapped[int] = mapped_column(default=0)
    held: Mapped[int] = mapped_column(default=0)
    digested: Mapped[int] = mapped_column(default=0)


class Follower(Base):
    __tablename__ = "incident_followers"

    incident_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )


class IncidentLink(Base):
    """Two incidents marked as related (stored once, lower id first)."""

    __tablename__ = "incident_links"

    incident_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    related_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
