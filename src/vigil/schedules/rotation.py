"""Rotations and local wall-clock time: who holds a layer's pager when, and local time to UTC.

The lowest pure module of the calculator; the DST rules it implements are explained for users in the
docstring of `vigil.schedules.calculator`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

Segment = tuple[datetime, datetime, int]
"""(start, end, user_id): a half-open stretch one user holds, before it becomes a `Shift`."""


class ScheduleValidationError(ValueError):
    """A schedule input is invalid.

    It is a ValueError so plain callers need nothing special; `field` names the offending input
    (for example ``layers[1].versions[0].rotation.length``) so the API can point the user at it.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@cache
def _known_zones() -> frozenset[str]:
    # Read once: scanning the zone database costs tens of milliseconds.
    return frozenset(available_timezones())


def zone_for(name: str, field: str = "time_zone") -> ZoneInfo:
    """Load an IANA zone, refusing names outside the zone database (paths, typos, 'localtime')."""
    if not isinstance(name, str) or name not in _known_zones():
        raise ScheduleValidationError(field, f"unknown time zone {name!r}; use an IANA name")
    try:
        return ZoneInfo(name)
    except (
        ZoneInfoNotFoundError,
        ValueError,
        OSError,
    ) as exc:  # pragma: no cover - listed zones load
        raise ScheduleValidationError(field, f"unknown time zone {name!r}") from exc


def require_aware(value: datetime, field: str) -> datetime:
    """Return `value` in UTC; a naive datetime is refused because its meaning would be a guess."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ScheduleValidationError(field, "must be a timezone-aware datetime")
    return value.astimezone(UTC)


def local_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant at which the naive local wall-clock time `wall` happens in `zone`.

    A time skipped by a forward jump (02:30 on a spring-forward night) happens at the first valid
    instant after it, which is the moment of the jump (03:00 local in Europe/Berlin). A time that
    happens twice (fall back) happens at its first occurrence (fold=0). Both rules keep a handoff
    on the day it belongs to and never hand off twice.
    """
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    return _end_of_gap(wall, zone, first)


def _end_of_gap(wall: datetime, zone: ZoneInfo, fold0: datetime) -> datetime:
    """The transition instant that skipped `wall`: the first instant whose local time is later."""
    fold1 = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    lo, hi = min(fold0, fold1), max(fold0, fold1)
    if lo == hi:  # pragma: no cover - zoneinfo always gives two offsets inside a gap
        lo = hi - timedelta(days=2)
    # Binary search on whole seconds (zone transitions happen on whole seconds) for the first
    # instant whose local wall time is at or after `wall`; inside a gap that is the transition.
    lo_s, hi_s = int(lo.timestamp()) - 1, int(hi.timestamp()) + 1
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if datetime.fromtimestamp(mid, zone).replace(tzinfo=None) >= wall:
            hi_s = mid
        else:
            lo_s = mid
    return datetime.fromtimestamp(hi_s, UTC)


class RotationUnit(StrEnum):
    """The unit a rotation length counts in; hours are elapsed time, days and weeks are calendar."""

    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"


@dataclass(frozen=True, slots=True)
class Rotation:
    """How a layer's participants take turns.

    `length` counts `unit`s. For days and weeks the handoff happens at `handoff_time` local
    wall-clock time (on `handoff_weekday`, 0 = Monday, for weeks; when None, the weekday of the
    rotation start). Hour rotations ignore the handoff fields: they hand off every `length`
    elapsed hours from the rotation start, so their local handoff time moves by the DST shift.
    """

    unit: RotationUnit
    length: int = 1
    handoff_time: time = time(0, 0)
    handoff_weekday: int | None = None

    @classmethod
    def hourly(cls, hours: int) -> Rotation:
        """Every `hours` elapsed hours (12 for a follow-the-sun pair, for example)."""
        return cls(RotationUnit.HOURS, hours)

    @classmethod
    def daily(cls, handoff_time: time = time(9, 0), days: int = 1) -> Rotation:
        """Every `days` days at `handoff_time` local."""
        return cls(RotationUnit.DAYS, days, handoff_time)

    @classmethod
    def weekly(
        cls, handoff_weekday: int = 0, handoff_time: time = time(9, 0), weeks: int = 1
    ) -> Rotation:
        """Every `weeks` weeks on `handoff_weekday` (0 = Monday) at `handoff_time` local."""
        return cls(RotationUnit.WEEKS, weeks, handoff_time, handoff_weekday)


def validate_rotation(rotation: Rotation, field: str = "rotation") -> None:
    """Refuse rotations the calculator cannot step through (a zero length would never hand off)."""
    if not isinstance(rotation, Rotation):
        raise ScheduleValidationError(field, "must be a Rotation")
    try:
        RotationUnit(rotation.unit)
    except ValueError:
        raise ScheduleValidationError(f"{field}.unit", "must be hours, days or weeks") from None
    length = rotation.length
    if isinstance(length, bool) or not isinstance(length, int) or length <= 0:
        raise ScheduleValidationError(
            f"{field}.length", "must be a positive whole number of hours, days or weeks"
        )
    if not isinstance(rotation.handoff_time, time) or rotation.handoff_time.tzinfo is not None:
        raise ScheduleValidationError(
            f"{field}.handoff_time", "must be a local wall-clock time without a time zone"
        )
    weekday = rotation.handoff_weekday
    if weekday is not None:
        if rotation.unit != RotationUnit.WEEKS:
            raise ScheduleValidationError(
                f"{field}.handoff_weekday", "only weekly rotations have a handoff day"
            )
        if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6:
            raise ScheduleValidationError(
                f"{field}.handoff_weekday", "must be 0 (Monday) to 6 (Sunday)"
            )


def _first_handoff_date(rotation: Rotation, anchor: datetime, zone: ZoneInfo) -> date:
    """Local date of the last handoff at or before `anchor`: participant 0's turn starts there."""
    local = anchor.astimezone(zone).date()
    if rotation.unit == RotationUnit.WEEKS:
        weekday = local.weekday() if rotation.handoff_weekday is None else rotation.handoff_weekday
        day = local - timedelta(days=(local.weekday() - weekday) % 7)
        back = 7
    else:
        day, back = local, 1
    if local_to_utc(datetime.combine(day, rotation.handoff_time), zone) > anchor:
        day -= timedelta(days=back)
    return day


def rotation_segments(
    rotation: Rotation,
    participants: Sequence[int],
    anchor: datetime,
    zone: ZoneInfo,
    since: datetime,
    until: datetime,
) -> list[Segment]:
    """Turns that overlap [since, until), clipped to it, found by jumping to the first handoff.

    Each handoff is computed from the anchor on its own (never by adding to the previous one), so
    one DST-adjusted handoff cannot push the later ones off their wall-clock time.
    """
    if rotation.length <= 0 or not participants:
        raise ScheduleValidationError("rotation", "needs a positive length and participants")
    count = len(participants)
    out: list[Segment] = []
    if rotation.unit == RotationUnit.HOURS:
        step = timedelta(hours=rotation.length)
        k = (since - anchor) // step
        start = anchor + k * step
        while start < until:
            end = start + step
            out.append((max(start, since), min(end, until), participants[k % count]))
            k += 1
            start = end
        return out

    days = rotation.length * (7 if rotation.unit == RotationUnit.WEEKS else 1)
    base = _first_handoff_date(rotation, anchor, zone)
    at = rotation.handoff_time

    def handoff(index: int) -> datetime:
        return local_to_utc(datetime.combine(base + timedelta(days=index * days), at), zone)

    k = (since.astimezone(zone).date() - base).days // days
    start = handoff(k)
    while start > since:
        k -= 1
        start = handoff(k)
    end = handoff(k + 1)
    while end <= since:
        k += 1
        start, end = end, handoff(k + 1)
    while start < until:
        if end > start:  # a zone that jumps back by a whole day could repeat a date; skip it
            out.append((max(start, since), min(end, until), participants[k % count]))
        k += 1
        start, end = max(start, end), handoff(k + 1)
    return out
