"""API shapes for services and integration keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from vigil.services.models import GroupingMode, IntegrationType

Severity = Annotated[str, StringConstraints(pattern=r"^SEV[1-4]$")]


def _mapping_values(mapping: dict[str, str]) -> dict[str, str]:
    return {word.strip().lower(): sev for word, sev in mapping.items()}


SeverityMapping = Annotated[
    dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], Severity],
    AfterValidator(_mapping_values),
    Field(max_length=100),
]
GroupBy = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=255)]], Field(max_length=50)
]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)


class ServiceCreate(Model):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    description: str = Field(default="", max_length=2000)
    team_id: int | None = None
    grouping_mode: GroupingMode = GroupingMode.LABELS
    group_by: GroupBy = ["alertname"]
    group_window_seconds: int = Field(default=3600, ge=0, le=30 * 86400)
    auto_resolve: bool = True
    severity_mapping: SeverityMapping = {}
    default_severity: Severity = "SEV2"
    integration_types: list[IntegrationType] = Field(
        default_factory=lambda: [IntegrationType.GENERIC],
        description="Integration keys to create with the service.",
    )


class ServiceUpdate(Model):
    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
        | None
    ) = None
    description: str | None = Field(default=None, max_length=2000)
    team_id: int | None = None
    grouping_mode: GroupingMode | None = None
    group_by: GroupBy | None = None
    group_window_seconds: int | None = Field(default=None, ge=0, le=30 * 86400)
    auto_resolve: bool | None = None
    severity_mapping: SeverityMapping | None = None
    default_severity: Severity | None = None


class IntegrationKeyCreate(Model):
    type: IntegrationType = IntegrationType.GENERIC
    name: str = Field(default="", max_length=100)


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
    created_at: datetime
    updated_at: datetime
    integration_keys: list[IntegrationKeyRead] = []
