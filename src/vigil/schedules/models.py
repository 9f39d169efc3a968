"""ORM rows for schedules: layers with dated versions, overrides, and calendar feed secrets.

A layer's settings live in versions: changing a layer closes the current version at the moment
the change takes effect and opens a new one, so the past is never rewritten.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from vigil.storage.base import Base


class Schedule(Base):
    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    team_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )
    time_zone: Mapped[str] = mapped_column(sa.String(64))
    description: Mapped[str] = mapped_column(sa.String(2000), default="")
    # A new random value on every change to the schedule, its layers or its overrides, so a
    # cached on-call timeline is never mistaken for a current one (not even across databases).
    revision: Mapped[str] = mapped_column(
        sa.String(32), default=lambda: uuid.uuid4().hex, server_default=""
    )
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ScheduleLayer(Base):
    """A layer's identity and precedence; what it does at a time is in its versions."""

    __tablename__ = "schedule_layers"

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(
        sa.ForeignKey("schedules.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(100))
    # Higher levels win wherever they have someone on call.
    level: Mapped[int]
    created_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class LayerVersion(Base):
    __tablename__ = "schedule_layer_versions"
    __table_args__ = (sa.Index("ix_layer_versions_layer_from", "layer_id", "effective_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    layer_id: Mapped[int] = mapped_column(sa.ForeignKey("schedule_layers.id", ondelete="CASCADE"))
    # This version applies in [effective_from, effective_until); the layer's own start/end bound it.
    effective_from: Mapped[datetime]
    effective_until: Mapped[datetime | None]
    start: Mapped[datetime]
    end: Mapped[datetime | None]
    participants: Mapped[list[Any]]
    rotation_unit: Mapped[str] = mapped_column(sa.String(8))
    rotation_length: Mapped[int]
    handoff_time: Mapped[str] = mapped_column(sa.String(5))
    handoff_weekday: Mapped[int | None]
    restrictions: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )


class Override(Base):
    """Someone covers [start, end) on a schedule; the covered member's consent is recorded."""

    __tablename__ = "schedule_overrides"
    __table_args__ = (sa.Index("ix_overrides_schedule_start", "schedule_id", "start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(sa.ForeignKey("schedules.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    start: Mapped[datetime]
    end: Mapped[datetime]
    kind: Mapped[str] = mapped_column(sa.String(8), default="cover")
    replaces_user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    consent_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    note: Mapped[str] = mapped_column(sa.String(1000), default="")
    created_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )


class CalendarFeed(Base):
    """A secret, revocable iCalendar URL for one schedule or one user."""

    __tablename__ = "calendar_feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    secret: Mapped[str] = mapped_column(sa.String(64), unique=True)
    schedule_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("schedules.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
