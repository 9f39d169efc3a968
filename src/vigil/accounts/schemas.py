"""API shapes for teams, users and tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from vigil.accounts.models import Role

_ZONES = frozenset(available_timezones()) | {"UTC"}


def _known_zone(name: str) -> str:
    if name not in _ZONES:
        raise ValueError(f"unknown IANA time zone {name!r} (for example Europe/Berlin)")
    return name


TimeZone = Annotated[str, AfterValidator(_known_zone)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    ),
]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)


class TeamCreate(Model):
    name: Name
    description: str = Field(default="", max_length=1000)
    time_zone: TimeZone = "UTC"


class TeamUpdate(Model):
    name: Name | None = None
    description: str | None = Field(default=None, max_length=1000)
    time_zone: TimeZone | None = None


class TeamRead(Model):
    id: int
    name: str
    description: str
    time_zone: str
    created_at: datetime
    member_ids: list[int] = []


class UserCreate(Model):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    email: Email
    time_zone: TimeZone = "UTC"
    role: Role = Role.RESPONDER
    team_ids: list[int] = []


class UserUpdate(Model):
    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = None
    email: Email | None = None
    time_zone: TimeZone | None = None
    role: Role | None = None
    team_ids: list[int] | None = None


class UserRead(Model):
    id: int
    name: str
    email: str
    time_zone: str
    role: Role
    created_at: datetime
    team_ids: list[int] = []


class TokenCreate(Model):
    name: Name
    user_id: int | None = None


class TokenRead(Model):
    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenRead):
    token: str
