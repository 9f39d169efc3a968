"""ORM rows for services, integration keys and change events."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from vigil.storage.base import Base


class GroupingMode(StrEnum):
    """How a service turns alerts into incidents."""

    NONE = "none"  # one incident per alert
    LABELS = "labels"  # alerts with the same values of group_by labels share an incident
    AS_SENT = "as_sent"  # the sender's own group (Alertmanager groupKey) is the incident


class IntegrationType(StrEnum):
    ALERTMANAGER = "alertmanager"
    GRAFANA = "grafana"
    PROMETHEUS = "prometheus"
    PAGERDUTY = "pagerduty"
    GENERIC = "generic"


class Service(Base):
    __tablename__ = "services"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    description: Mapped[str] = mapped_column(sa.String(2000), default="")
    team_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )
    grouping_mode: Mapped[str] = mapped_column(sa.String(16), default=GroupingMode.LABELS)
    group_by: Mapped[list[str]] = mapped_column(default=lambda: ["alertname"])
    group_window_seconds: Mapped[int] = mapped_column(default=3600)
    auto_resolve: Mapped[bool] = mapped_column(default=True)
    # Lower-cased sender severity -> SEV1..SEV4; merged over the defaults in alerts.severity.
    severity_mapping: Mapped[dict[str, Any]] = mapped_column(default=dict)
    default_severity: Mapped[str] = mapped_column(sa.String(8), default="SEV2")
    escalation_policy_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("escalation_policies.id", ondelete="SET NULL"), index=True
    )
    # {"time_zone": "Europe/Berlin", "days": ["mon", ...], "start": "09:00", "end": "18:00"}
    support_hours: Mapped[dict[str, Any] | None]
    # SEV -> "high" | "low", over the default (SEV1-2 high, SEV3-4 low).
    urgency_mapping: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Acknowledged but unresolved this long: back to triggered, escalation restarts. None: off.
    ack_timeout_minutes: Mapped[int | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class IntegrationKey(Base):
    __tablename__ = "integration_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(
        sa.ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(sa.String(32))
    name: Mapped[str] = mapped_column(sa.String(100), default="")
    key: Mapped[str] = mapped_column(sa.String(32), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class ChangeEvent(Base):
    """A deploy or config change sent through PagerDuty's change events: context, never a page."""

    __tablename__ = "change_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(
        sa.ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    summary: Mapped[str] = mapped_column(sa.String(1024))
    source: Mapped[str | None] = mapped_column(sa.String(255))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    links: Mapped[list[Any]] = mapped_column(default=list)
