"""ORM rows for contact methods, notification rules, channel destinations and the outbox."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from vigil.storage.base import Base


class ContactKind(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    VOICE = "voice"
    SLACK = "slack"
    TEAMS = "teams"
    PUSH = "push"  # a webhook to a self-hosted push service (ntfy, Gotify)


class MessageStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ContactMethod(Base):
    __tablename__ = "contact_methods"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    address: Mapped[str] = mapped_column(sa.String(2048))
    label: Mapped[str] = mapped_column(sa.String(100), default="")
    verification_code: Mapped[str | None] = mapped_column(sa.String(16))
    verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class NotificationRule(Base):
    """PagerDuty-style: for this urgency, `delay_minutes` after being paged, use this method."""

    __tablename__ = "notification_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    urgency: Mapped[str] = mapped_column(sa.String(8))
    contact_method_id: Mapped[int] = mapped_column(
        sa.ForeignKey("contact_methods.id", ondelete="CASCADE")
    )
    delay_minutes: Mapped[int] = mapped_column(default=0)


class ChannelDestination(Base):
    """A shared Slack, Teams or webhook destination: an escalation target or a stakeholder list."""

    __tablename__ = "channel_destinations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    address: Mapped[str] = mapped_column(sa.String(2048))
    secret: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime]


class Notification(Base):
    """The outbox: written in the same transaction as the change that causes it, sent by the worker.

    `idempotency_key` travels with the message (header, Message-ID) so a resend after a crash is
    recognisable downstream; `claimed_until` lets another worker take over a message whose sender
    died mid-send.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        sa.Index("ix_notifications_due", "status", "send_at"),
        sa.Index("ix_notifications_incident", "incident_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    incident_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE")
    )
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    contact_method_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("contact_methods.id", ondelete="SET NULL")
    )
    channel_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("channel_destinations.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(sa.String(16))  # page, management, test, verify, event
    channel_kind: Mapped[str] = mapped_column(sa.String(16))
    address: Mapped[str] = mapped_column(sa.String(2048))
    secret: Mapped[str | None] = mapped_column(sa.String(200))
    urgency: Mapped[str | None] = mapped_column(sa.String(8))
    level: Mapped[int | None]
    # The rendered message: what to say is fixed when the message is planned.
    content: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(sa.String(16), default=MessageStatus.PENDING)
    send_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(sa.String(200))
    last_error: Mapped[str | None] = mapped_column(sa.String(2000))
    provider_id: Mapped[str | None] = mapped_column(sa.String(500))
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
