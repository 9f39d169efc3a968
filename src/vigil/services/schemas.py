"""API shapes for services and integration keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from vigil.accounts.schemas import TimeZone
from vigil.services.models import GroupingMode, IntegrationType

Severity = Annotated[str, StringConstraints(pattern=r"^SEV[1-4]$")]


def _no_nul(text: str) -> str:
    # PostgreSQL cannot store NUL in text or JSONB; refuse it here so the error names the field.
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    return text


# Row ids are 32-bit integers on PostgreSQL; a larger one can only be "not found" or invalid.
Id = Annotated[int, Field(ge=1, le=2_147_483_647)]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_no_nul),
]
Description = Annotated[str, Field(max_length=2000), AfterValidator(_no_nul)]


def _mapping_values(mapping: dict[str, str]) -> dict[str, str]:
    return {word.strip().lower(): sev for word, sev in mapping.items()}


SeverityMapping = Annotated[
    dict[
        Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_no_nul)],
        Severity,
    ],
    AfterValidator(_mapping_values),
    Field(max_length=100),
]
GroupBy = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(_no_nul)]],
    Field(max_length=50),
]


WeekdayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


class SupportHours(BaseModel):
    """When low-urgency incidents notify people; outside it they wait for the next window."""

    model_config = ConfigDict(extra="forbid")

    time_zone: TimeZone
    days: list[WeekdayName] = Field(min_length=1, max_length=7)
    start: ClockTime = "09:00"
    end: ClockTime = "18:00"

    @model_validator(mode="after")
    def _ordered(self) -> SupportHours:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


UrgencyMapping = Annotated[dict[Severity, Literal["high", "low"]], Field(max_length=4)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)


class ServiceCreate(Model):
    name: Name
    description: Description = ""
    team_id: Id | None = None
    grouping_mode: GroupingMode = GroupingMode.LABELS
    group_by: GroupBy = ["alertname"]
    group_window_seconds: int = Field(default=3600, ge=0, le=30 * 86400)
    auto_resolve: bool = True
    severity_mapping: SeverityMapping = {}
    default_severity: Severity = "SEV2"
    escalation_policy_id: int | None = None
    support_hours: SupportHours | None = None
    urgency_mapping: UrgencyMapping = {}
    ack_timeout_minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    integration_types: list[IntegrationType] = Field(
        default_factory=lambda: [IntegrationType.GENERIC],
        description="Integration keys to create with the service.",
    )


class ServiceUpdate(Model):
    name: Name | None = None
    description: Description | None = None
    team_id: Id | None = None
    grouping_mode: GroupingMode | None = None
    group_by: GroupBy | None = None
    group_window_seconds: int | None = Field(default=None, ge=0, le=30 * 86400)
    auto_resolve: bool | None = None
    severity_mapping: SeverityMapping | None = None
    default_severity: Severity | None = None
    escalation_policy_id: int | None = None
    support_hours: SupportHours | None = None
    urgency_mapping: UrgencyMapping | None = None
    ack_timeout_minutes: int | None = Field(default=None, ge=1, le=24 * 60)


class IntegrationKeyCreate(Model):
    type: IntegrationType = IntegrationType.GENERIC
    name: Annotated[str, Field(max_length=100), AfterValidator(_no_nul)] = ""


class IntegrationKeyRead(Model):
    id: int
    service_id: int
    type: IntegrationType
    name: str
    key: str
    created_at: datetime
    revoked_at: datetime | None
    urls: dict[str, str] = {}


class ServiceRead(Model):
    id: int
    name: str
    description: str
    team_id: int | None
    grouping_mode: GroupingMode
    group_by: list[str]
    group_window_seconds: int
    auto_resolve: bool
    severity_mapping: dict[str, Any]
    default_severity: str
    escalation_policy_id: int | None
    support_hours: dict[str, Any] | None
    urgency_mapping: dict[str, Any]
    ack_timeout_minutes: int | None
    created_at: datetime
    updated_at: datetime
    integration_keys: list[IntegrationKeyRead] = []
