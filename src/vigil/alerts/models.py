"""ORM row for an alert; one firing alert per (service, dedup key) is enforced by the database."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from vigil.alerts.raw import restore_raw
from vigil.storage.base import Base, JSONType


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


OPEN_MARKER_SQL = "CASE WHEN status = 'firing' THEN 1 END"


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        # PostgreSQL: one index for both jobs of (service, dedup key): the backstop for dedup
        # under concurrency (at most one firing alert per key and service: `open_marker` is 1
        # while firing and NULL after, and NULLs never collide) and the lookup of resolved alerts
        # for refire and late-duplicate checks. Two indexes on these random keys (a partial
        # unique one for firing alerts and a plain one) cost a third more per new alert in a
        # storm. SQLite, whose writers take turns, looks keys up in two tiers instead
        # (`AlertKey`, `vigil.alerts.dedup`).
        sa.Index(
            "uq_alerts_service_dedup_key_open",
            "service_id",
            "dedup_key",
            "open_marker",
            unique=True,
        ).ddl_if(dialect="postgresql"),
        # An incident's alerts in the order they came (SQLite appends the row id): a batch of
        # alerts joining an incident adds to one end of it, not to a page per alert. Its firing
        # alerts apart (`open_marker`): "has this incident an alert still firing?" is asked at
        # every resolve and must not read the alerts that have resolved (a storm resolving in
        # batches read them all again at each batch).
        sa.Index("ix_alerts_incident_id_open", "incident_id", "open_marker"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="SET NULL").ddl_if(
            dialect="sqlite"
        ),
        sa.Index(
            "ix_alerts_expires_at",
            "expires_at",
            sqlite_where=sa.text("status = 'firing' AND expires_at IS NOT NULL"),
            postgresql_where=sa.text("status = 'firing' AND expires_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign key (migration 0011): PostgreSQL checked it once per inserted row, a sizable part
    # of an alert storm's inserts. Only ingest writes alerts, with their service locked for the
    # transaction, and `delete_service` deletes a service's alerts itself.
    service_id: Mapped[int]
    # A foreign key on SQLite only (migration 0013), for the same reason: on PostgreSQL its check
    # was a tenth of the backend's time in a storm. Ingest only refers to incidents it has just
    # opened or found open under its service's lock, and incidents go only with their service,
    # whose `delete_service` detaches other services' alerts from them first.
    incident_id: Mapped[int | None]
    dedup_key: Mapped[str] = mapped_column(sa.String(255))
    status: Mapped[str] = mapped_column(sa.String(16), default=AlertStatus.FIRING)
    # Computed by the database from `status`, for the unique index above; never written.
    open_marker: Mapped[int | None] = mapped_column(sa.Computed(OPEN_MARKER_SQL))
    summary: Mapped[str] = mapped_column(sa.String(1024))
    severity: Mapped[str] = mapped_column(sa.String(8))
    source: Mapped[str] = mapped_column(sa.String(255), default="")
    integration_type: Mapped[str] = mapped_column(sa.String(32))
    labels: Mapped[dict[str, str]] = mapped_column(default=dict)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    links: Mapped[list[Any]] = mapped_column(default=list)
    group_key: Mapped[str | None] = mapped_column(sa.String(1024))
    starts_at: Mapped[datetime]
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    # Prometheus semantics: a firing alert not refreshed before expires_at resolves by itself.
    expires_at: Mapped[datetime | None]
    event_count: Mapped[int] = mapped_column(default=1)
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    # The last payload received, for debugging a sender; capped in size at ingest, and stored
    # without what the columns above hold of it (`vigil.alerts.raw`): read `payload_as_sent`.
    raw_payload: Mapped[dict[str, Any] | list[Any] | None] = mapped_column(JSONType)

    @property
    def payload_as_sent(self) -> dict[str, Any] | None:
        """The last payload received, whole (`raw_payload` may hold only part of it)."""
        return restore_raw(self.raw_payload, self)


class AlertKey(Base):
    """SQLite: the dedup keys of alerts up to `AlertKeyMerge.merged_upto`, merged in bulk from
    the recent tier (`vigil.alerts.dedup`); clustered on the key, so a key's alerts are one
    range. Empty on PostgreSQL, which keeps its unique index on `alerts`."""

    __tablename__ = "alert_keys"
    __table_args__ = {"sqlite_with_rowid": False}

    service_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    dedup_key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    alert_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)


class AlertKeyMerge(Base):
    """SQLite: one row. Alerts above `merged_upto` are the recent tier, whose keys each ingesting
    process keeps in memory; `generation` changes when alerts are deleted, so those processes
    read the tier again."""

    __tablename__ = "alert_key_merges"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    merged_upto: Mapped[int]
    generation: Mapped[int]
