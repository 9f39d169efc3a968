"""ORM rows for escalation policies and each incident's running escalation.

A running escalation keeps a snapshot of the policy it started with, so editing a policy changes
new incidents only: nobody is surprised mid-incident.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from vigil.storage.base import Base


class TargetType(StrEnum):
    USER = "user"
    SCHEDULE = "schedule"
    TEAM = "team"
    CHANNEL = "channel"


class EscalationState(StrEnum):
    ACTIVE = "active"  # next_at is when the next level fires
    WAITING = "waiting"  # low urgency outside support hours: next_at is the next window
    STOPPED = "stopped"  # acknowledged, resolved, or reassigned
    EXHAUSTED = "exhausted"  # every level and repeat has fired


class EscalationPolicy(Base):
    __tablename__ = "escalation_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    description: Mapped[str] = mapped_column(sa.String(2000), default="")
    team_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )
    # [{"targets": [{"type": "user", "id": 3}], "delay_minutes": 5, "mode": "all"}, ...]
    levels: Mapped[list[Any]]
    repeat: Mapped[int] = mapped_column(default=0)
    # Who hears about SEV1/SEV2 incidents when they open or get worse: targets as in levels.
    management_targets: Mapped[list[Any]] = mapped_column(default=list)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class IncidentEscalation(Base):
    __tablename__ = "incident_escalations"
    __table_args__ = (sa.Index("ix_incident_escalations_due", "state", "next_at"),)

    incident_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    policy_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("escalation_policies.id", ondelete="SET NULL")
    )
    policy_version: Mapped[int]
    snapshot: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(sa.String(16), default=EscalationState.ACTIVE)
    # The level that fires next, and how many times the whole policy has run before.
    next_level: Mapped[int] = mapped_column(default=0)
    cycle: Mapped[int] = mapped_column(default=0)
    next_at: Mapped[datetime | None]
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    last_fired_at: Mapped[datetime | None]
