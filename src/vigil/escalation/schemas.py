"""API shapes for escalation policies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from vigil.escalation.models import TargetType


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)


class Target(Model):
    type: TargetType
    id: int


class Level(Model):
    targets: list[Target] = Field(min_length=1, max_length=50)
    delay_minutes: int = Field(
        default=5, ge=0, le=1440, description="Minutes before the next level if unacknowledged."
    )
    mode: Literal["all", "round_robin"] = "all"


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class PolicyCreate(Model):
    name: Name
    description: str = Field(default="", max_length=2000)
    team_id: int | None = None
    levels: list[Level] = Field(min_length=1, max_length=20)
    repeat: int = Field(default=0, ge=0, le=9, description="Run the whole policy again, 0–9 times.")
    management_targets: list[Target] = Field(
        default_factory=list,
        max_length=50,
        description="Told when a SEV1 or SEV2 incident opens or gets worse.",
    )


class PolicyUpdate(Model):
    name: Name | None = None
    description: str | None = Field(default=None, max_length=2000)
    team_id: int | None = None
    levels: list[Level] | None = Field(default=None, min_length=1, max_length=20)
    repeat: int | None = Field(default=None, ge=0, le=9)
    management_targets: list[Target] | None = Field(default=None, max_length=50)


class PolicyRead(Model):
    id: int
    name: str
    description: str
    team_id: int | None
    levels: list[Level]
    repeat: int
    management_targets: list[Target]
    version: int
    created_at: datetime
    updated_at: datetime


class PlanStep(Model):
    """One line of an incident's escalation plan."""

    level: int
    cycle: int
    at: datetime | None
    targets: list[str]
    fired: bool


class EscalationRead(Model):
    incident_id: int
    policy_id: int | None
    policy_version: int
    state: str
    next_level: int
    cycle: int
    next_at: datetime | None
    plan: list[PlanStep]
