"""API shapes for schedules, layers, overrides and shifts.

Timestamps without an offset are read in the schedule's time zone (the API documents this on every
such field); everything Vigil returns is UTC with an explicit offset.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from vigil.accounts.schemas import TimeZone

NAIVE_NOTE = "Without an offset, read in the schedule's time zone."
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _clock_time(value: str) -> str:
    if not _TIME.match(value):
        raise ValueError("must be a time of day HH:MM, 00:00 to 23:59")
    return value


def _weekday(value: str | int) -> str:
    """Accepts mon..sun (any case, or full names) or ISO numbers 1..7; keeps the short name."""
    if isinstance(value, int):
        if 1 <= value <= 7:
            return WEEKDAYS[value - 1]
        raise ValueError("must be mon..sun or 1 (Monday) to 7 (Sunday)")
    word = value.strip().lower()[:3]
    if word not in WEEKDAYS:
        raise ValueError("must be mon..sun or 1 (Monday) to 7 (Sunday)")
    return word


def weekday_index(name: str) -> int:
    """Monday is 0, as Python's datetime.weekday()."""
    return WEEKDAYS.index(name)


ClockTime = Annotated[str, AfterValidator(_clock_time)]
Weekday = Annotated[str | int, AfterValidator(_weekday)]
LocalTimestamp = Annotated[datetime, Field(description=NAIVE_NOTE)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)


class RotationUnit(StrEnum):
    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"


class Restriction(Model):
    """When a layer may have someone on call: daily 09:00–17:00, or weekly Mon 09:00 → Fri 17:00.

    Give either `end_time` (and `end_day` for weekly) or `duration_minutes`.
    """

    type: Literal["daily", "weekly"]
    start_time: ClockTime
    start_day: Weekday | None = Field(default=None, description="Weekly only: mon..sun.")
    end_time: ClockTime | None = None
    end_day: Weekday | None = Field(default=None, description="Weekly only: mon..sun.")
    duration_minutes: int | None = None

    @model_validator(mode="after")
    def _shape(self) -> Restriction:
        if self.type == "weekly" and self.start_day is None:
            raise ValueError("start_day is required for a weekly restriction")
        if self.type == "daily" and (self.start_day is not None or self.end_day is not None):
            raise ValueError("start_day and end_day are for weekly restrictions only")
        if (self.end_time is None) == (self.duration_minutes is None):
            raise ValueError("give either end_time or duration_minutes")
        if self.type == "weekly" and self.end_time is not None and self.end_day is None:
            raise ValueError("end_day is required with end_time for a weekly restriction")
        period = 24 * 60 if self.type == "daily" else 7 * 24 * 60
        minutes = self.minutes()
        if minutes <= 0:
            raise ValueError("the restriction is empty: it must last at least a minute")
        if minutes > period:
            raise ValueError(f"the restriction is longer than its {self.type} period")
        return self

    def minutes(self) -> int:
        """The window's length; an end at or before the start wraps to the next day or week."""
        if self.duration_minutes is not None:
            return self.duration_minutes
        assert self.end_time is not None
        start = _minute_of(self.start_time, self.start_day)
        end = _minute_of(self.end_time, self.end_day)
        period = 24 * 60 if self.type == "daily" else 7 * 24 * 60
        return (end - start) % period if end != start else 0


def _minute_of(clock: str, day: str | int | None) -> int:
    hours, minutes = (int(p) for p in clock.split(":"))
    index = weekday_index(day) if isinstance(day, str) else 0
    return index * 24 * 60 + hours * 60 + minutes


class Rotation(Model):
    unit: RotationUnit = RotationUnit.WEEKS
    length: int = Field(default=1, description="Positive: N hours, days or weeks.")


class LayerSettings(Model):
    start: LocalTimestamp = Field(description=f"When the layer begins. {NAIVE_NOTE}")
    end: LocalTimestamp | None = Field(default=None, description=f"Optional end. {NAIVE_NOTE}")
    participants: list[int] = Field(
        description="User ids in rotation order; a user may appear more than once."
    )
    rotation: Rotation | Literal["daily", "weekly"] = "weekly"
    handoff_time: ClockTime = Field(default="09:00", description="Local to the schedule.")
    handoff_day: Weekday | None = Field(
        default=None, description="Weekly rotations: the handoff weekday (default: start's)."
    )
    restrictions: list[Restriction] = Field(default_factory=list, max_length=50)

    def rotation_unit_and_length(self) -> tuple[RotationUnit, int]:
        if self.rotation == "daily":
            return RotationUnit.DAYS, 1
        if self.rotation == "weekly":
            return RotationUnit.WEEKS, 1
        assert isinstance(self.rotation, Rotation)
        return self.rotation.unit, self.rotation.length


class LayerCreate(LayerSettings):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class LayerUpdate(Model):
    """New settings for a layer from `effective_from` on (default: now); the past stays."""

    effective_from: LocalTimestamp | None = Field(default=None, description=NAIVE_NOTE)
    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
        | None
    ) = None
    end: LocalTimestamp | None = None
    participants: list[int] | None = None
    rotation: Rotation | Literal["daily", "weekly"] | None = None
    handoff_time: ClockTime | None = None
    handoff_day: Weekday | None = None
    restrictions: list[Restriction] | None = Field(default=None, max_length=50)


class ScheduleCreate(Model):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    team_id: int | None = None
    time_zone: TimeZone
    description: str = Field(default="", max_length=2000)
    layers: list[LayerCreate] = Field(
        default_factory=list, max_length=20, description="Bottom first: later layers win."
    )


class ScheduleUpdate(Model):
    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
        | None
    ) = None
    team_id: int | None = None
    time_zone: TimeZone | None = None
    description: str | None = Field(default=None, max_length=2000)


class LayerRead(Model):
    id: int
    name: str
    level: int
    start: datetime
    end: datetime | None
    participants: list[int]
    rotation: Rotation
    handoff_time: str
    handoff_day: str | None
    restrictions: list[Restriction]
    effective_from: datetime


class OverrideCreate(Model):
    user_id: int
    start: LocalTimestamp
    end: LocalTimestamp
    replaces_user_id: int | None = Field(
        default=None, description="Whose shift this covers (needed when members swap)."
    )
    kind: Literal["cover", "swap"] = "cover"
    consent: bool = Field(
        default=False,
        description="Members: the other member agreed; their consent is recorded.",
    )
    note: str = Field(default="", max_length=1000)


class OverrideRead(Model):
    id: int
    schedule_id: int
    user_id: int
    start: datetime
    end: datetime
    kind: str
    replaces_user_id: int | None
    consent_by_id: int | None
    note: str
    created_at: datetime
    created_by_id: int | None


class ScheduleRead(Model):
    id: int
    name: str
    team_id: int | None
    time_zone: str
    description: str
    created_at: datetime
    updated_at: datetime
    layers: list[LayerRead] = []


class ShiftRead(Model):
    start: datetime
    end: datetime
    user_id: int | None = Field(description="null: nobody is on call (a gap)")
    schedule_id: int | None = None


class LayerShifts(Model):
    layer_id: int
    name: str
    shifts: list[ShiftRead]


class ShiftsRead(Model):
    schedule_id: int
    since: datetime
    until: datetime
    final: list[ShiftRead]
    layers: list[LayerShifts] | None = None


class OnCallEntry(Model):
    schedule_id: int
    schedule_name: str
    user_id: int | None
    user_name: str | None
    since: datetime | None
    until: datetime | None


class ScheduleGaps(Model):
    schedule_id: int
    schedule_name: str
    gaps: list[ShiftRead] = Field(
        description="Times with nobody on call: pages would reach no one."
    )


class LoadRow(Model):
    user_id: int
    user_name: str
    hours_on_call: float
    hours_off_hours: float = Field(description="Outside the user's own 08:00–20:00 local time.")
    hours_weekend: float
    shifts: int


class CalendarFeedRead(Model):
    id: int
    url: str
    webcal_url: str
    created_at: datetime
