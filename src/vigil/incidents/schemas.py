"""API shapes for incidents, their alerts and their timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

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
    raw_payload: dict[str, Any] | None = Field(
        validation_alias="payload_as_sent",
        description="The last payload its sender posted for this alert, as posted (its fields"
        " may come in another order). Over `VIGIL_RAW_PAYLOAD_LIMIT_BYTES` it is a note of its"
        " size instead, and null when that limit is 0.",
    )


class TimelineEventRead(Model):
    id: int
    kind: str
    at: datetime
    actor_user_id: int | None
    actor_name: str | None = Field(
        default=None, description="The name of the person who made the entry; null for Vigil's."
    )
    message: str
    data: dict[str, Any]
    pinned: bool = False
    recorded_at: datetime | None = Field(
        default=None, description="Set on backfilled entries: when it was written (edited)."
    )


class IncidentRead(Model):
    id: int
    number: int
    title: str
    description: str
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
    service_id: int | None
    affected_service_ids: list[int] = []
    started_at: datetime | None = None
    detected_at: datetime | None = None
    investigating_at: datetime | None = None
    identified_at: datetime | None = None
    monitoring_at: datetime | None = None
    declared_by_id: int | None = None
    war_room_url: str | None = None
    merged_into_id: int | None = None
    last_stakeholder_update_at: datetime | None = None


class RoleRead(Model):
    role: str
    user_id: int
    assigned_at: datetime
    duties: list[str] = []


class TaskRead(Model):
    id: int
    title: str
    status: str
    assignee_id: int | None
    due_at: datetime | None
    from_plan_id: int | None
    created_at: datetime
    completed_at: datetime | None


class StatusUpdateRead(Model):
    id: int
    audience: str
    phase: str
    message: str
    author_id: int | None
    created_at: datetime


class IncidentDetail(IncidentRead):
    alerts: list[AlertRead]
    timeline: list[TimelineEventRead]
    impact: dict[str, Any] = {}
    roles: list[RoleRead] = []
    tasks: list[TaskRead] = []
    updates: list[StatusUpdateRead] = []
    related: list[int] = []
    allowed_moves: list[str] = []


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
    pinned: bool = False
    occurred_at: datetime | None = Field(
        default=None, description="When it really happened (a backfilled entry, shown as edited)."
    )


class ResolveRequest(Model):
    note: Reason = ""


Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1024)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000)]


class DeclareRequest(Model):
    title: Title
    description: Text = ""
    severity: Severity
    services: list[int] = Field(
        default_factory=list, max_length=50, description="Affected services."
    )
    commander_id: int | None = Field(default=None, description="Default: you.")
    started_at: datetime | None = Field(default=None, description="When impact began; default now.")
    page: bool = Field(default=False, description="Page the first service's escalation policy.")


class StatusChange(Model):
    status: IncidentStatus
    message: Text = ""


class IncidentEdit(Model):
    title: Title | None = None
    description: Text | None = None
    started_at: datetime | None = None
    detected_at: datetime | None = None
    war_room_url: (
        Annotated[str, StringConstraints(max_length=2048, pattern=r"^https?://")] | None
    ) = None

    @field_validator("title", "description", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null")
        return value


class RoleAssign(Model):
    role: Literal[
        "commander", "technical_lead", "communications_manager", "scribe", "subject_matter_expert"
    ]
    user_id: int


class UpdateCreate(Model):
    message: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)
    ]
    audience: Literal["internal", "stakeholders", "public"] = "internal"


class TaskCreate(Model):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    assignee_id: int | None = None
    due_at: datetime | None = None


class TaskUpdate(Model):
    title: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
        | None
    ) = None
    status: Literal["open", "done", "skipped"] | None = None
    assignee_id: int | None = None
    due_at: datetime | None = None


class MergeRequest(Model):
    into: int = Field(description="The incident number to merge into.")


class LinkRequest(Model):
    incident: int


class SuggestionRead(Model):
    severity: Severity
    reasons: list[str]
    current: Severity


class ResponsePlanCreate(Model):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    severities: list[Severity] = Field(min_length=1, max_length=4)
    runbook_url: (
        Annotated[str, StringConstraints(max_length=2048, pattern=r"^https?://")] | None
    ) = None
    checklist: list[Annotated[str, StringConstraints(min_length=1, max_length=500)]] = Field(
        default_factory=list, max_length=100
    )


class ResponsePlanRead(Model):
    id: int
    service_id: int
    name: str
    severities: list[str]
    runbook_url: str | None
    checklist: list[str]


class StakeholderRuleCreate(Model):
    severity: Severity
    channel_id: int
    events: list[Literal["declared", "severity_changed", "update", "resolved"]] = Field(
        default_factory=lambda: ["declared", "severity_changed", "update", "resolved"], min_length=1
    )


class StakeholderRuleRead(Model):
    id: int
    severity: str
    channel_id: int
    events: list[str]
