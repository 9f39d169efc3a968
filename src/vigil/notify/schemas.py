"""API shapes for contact methods, notification rules, channel destinations and messages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from vigil.notify.models import ContactKind


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)


Address = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]
Urgency = Literal["high", "low"]


class ContactMethodCreate(Model):
    kind: ContactKind
    address: Address = Field(
        description="Email address; E.164 phone (+4930123456) for sms and voice; https URL for "
        "slack, teams and push."
    )
    label: str = Field(default="", max_length=100)


class ContactMethodRead(Model):
    id: int
    user_id: int
    kind: ContactKind
    address: str
    label: str
    verified_at: datetime | None
    created_at: datetime


class VerifyRequest(Model):
    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]


class RuleCreate(Model):
    urgency: Urgency
    contact_method_id: int
    delay_minutes: int = Field(default=0, ge=0, le=1440)


class RuleRead(Model):
    id: int
    user_id: int
    urgency: Urgency
    contact_method_id: int
    delay_minutes: int


class ChannelCreate(Model):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    kind: Literal["slack", "teams", "webhook", "email"]
    address: Address
    secret: str | None = Field(default=None, max_length=200, description="Webhooks: HMAC secret.")


class ChannelRead(Model):
    id: int
    name: str
    kind: str
    address: str
    created_at: datetime


class TestResult(Model):
    contact_method_id: int
    kind: str
    address: str
    ok: bool
    error: str | None


class NotificationRead(Model):
    id: int
    incident_id: int | None
    user_id: int | None
    kind: str
    channel_kind: str
    address: str
    level: int | None
    status: str
    send_at: datetime
    attempts: int
    last_error: str | None
    provider_id: str | None
    sent_at: datetime | None
