"""API shapes for incidents, their alerts and their timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from vigil.incidents.models import IncidentStatus, Severity


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)


class AlertRead(Model):
    id: int
    service_id: int
    incident_id: int | None
    dedup_key: str
    status: str
    summary: str
    severity: str
    source: str
    integration_type: str
    labels: dict[str, str]
    details: dict[str, Any]
    links: list[Any]
    starts_at: datetime
    first_seen_at: datetime
    last_seen_at: datetime
    expires_at: datetime | None
    event_count: int
    acknowledged_at: datetime | None
    resolved_at: datetime | None


class AlertDetail(AlertRead):
    raw_payload: dict[str, Any] | None


class TimelineEventRead(Model):
    id: int
    kind: str
    at: datetime
    actor_user_id: int | None
    message: str
    data: dict[str, Any]


class IncidentRead(Model):
    id: int
    number: int
    title: str
    description: str
    service_id: int
    severity: Severity
    severity_set_by_user: bool
    urgency: str
    status: IncidentStatus
    alert_count: int
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by_id: int | None
    resolved_at: datetime | None
    resolved_by_id: int | None


class IncidentDetail(IncidentRead):
    alerts: list[AlertRead]
    timeline: list[TimelineEventRead]


class IncidentList(BaseModel):
    items: list[IncidentRead]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


class AlertList(BaseModel):
    items: list[AlertRead]
    next_cursor: str | None


Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class SeverityChange(Model):
    severity: Severity
    reason: Reason = ""


class NoteCreate(Model):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]


class ResolveRequest(Model):
    note: Reason = ""
