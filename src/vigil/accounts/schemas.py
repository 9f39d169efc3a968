"""API shapes for teams, users and tokens."""

from __future__ import annotations

import re
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


def _no_nul(text: str) -> str:
    # PostgreSQL cannot store NUL in text; refuse it here so the error names the field.
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    return text


# Row ids are 32-bit integers on PostgreSQL; a larger one can only be "not found" or invalid.
Id = Annotated[int, Field(ge=1, le=2_147_483_647)]
TimeZone = Annotated[str, AfterValidator(_known_zone)]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_no_nul),
]
PersonName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_nul),
]
Description = Annotated[str, Field(max_length=1000), AfterValidator(_no_nul)]
_EMAIL = re.compile(r"[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+")


def _email(address: str) -> str:
    if not _EMAIL.fullmatch(address):
        raise ValueError("not an email address (for example ada@example.com)")
    return address


Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, max_length=320),
    AfterValidator(_email),
]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)


class TeamCreate(Model):
    name: Name
    description: Description = ""
    time_zone: TimeZone = "UTC"


class TeamUpdate(Model):
    name: Name | None = None
    description: Description | None = None
    time_zone: TimeZone | None = None


class TeamRead(Model):
    id: int
    name: str
    description: str
    time_zone: str
    created_at: datetime
    member_ids: list[int] = []


class UserCreate(Model):
    name: PersonName
    email: Email
    time_zone: TimeZone = "UTC"
    role: Role = Role.RESPONDER
    team_ids: list[Id] = []


class UserUpdate(Model):
    name: PersonName | None = None
    email: Email | None = None
    time_zone: TimeZone | None = None
    role: Role | None = None
    team_ids: list[Id] | None = None


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
    user_id: Id | None = None


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
