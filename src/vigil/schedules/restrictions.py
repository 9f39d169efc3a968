"""Restrictions: the local daily or weekly windows outside which a layer has nobody on call.

Window boundaries are local wall-clock times resolved with the same DST rules as handoffs (see
`vigil.schedules.calculator`), so a 22:00–06:00 night window lasts 7 or 9 hours on DST nights.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from vigil.schedules.rotation import ScheduleValidationError, Segment, local_to_utc

Span = tuple[datetime, datetime]
"""(start, end): a half-open stretch of UTC time."""

DAY = timedelta(days=1)
WEEK = timedelta(days=7)


class RestrictionKind(StrEnum):
    """Whether a window repeats every day or every week."""

    DAILY = "daily"
    WEEKLY = "weekly"


@dataclass(frozen=True, slots=True)
class Restriction:
    """A repeating local window, stored as a start and a wall-clock duration.

    Storing a duration rather than an end makes windows that cross midnight (22:00 for 8 hours) or
    the week boundary (Friday 18:00 for 62 hours) unambiguous. `start_weekday` (0 = Monday) is
    required for weekly windows and absent for daily ones. Use `daily()` / `weekly()` to build one
    from a start and an end as users state them.
    """

    kind: RestrictionKind
    start_time: time
    duration: timedelta
    start_weekday: int | None = None

    @classmethod
    def daily(cls, start: time, end: time) -> Restriction:
        """Every day from `start` to `end` local; an `end` at or before `start` is the next day."""
        return cls(RestrictionKind.DAILY, start, _wall_delta(start, end) % DAY)

    @classmethod
    def weekly(cls, start_weekday: int, start: time, end_weekday: int, end: time) -> Restriction:
        """Every week from (`start_weekday`, `start`) to (`end_weekday`, `end`) local."""
        delta = timedelta(days=end_weekday - start_weekday) + _wall_delta(start, end)
        return cls(RestrictionKind.WEEKLY, start, delta % WEEK, start_weekday)

    @property
    def end_time(self) -> time:
        """Local time the window closes, for showing the window back to users."""
        return (datetime.combine(date(2000, 1, 3), self.start_time) + self.duration).time()

    @property
    def end_weekday(self) -> int | None:
        """Weekday the window closes (weekly windows only)."""
        if self.start_weekday is None:
            return None
        start = datetime.combine(
            date(2000, 1, 3) + timedelta(days=self.start_weekday), self.start_time
        )
        return (start + self.duration).weekday()


def _wall_delta(start: time, end: time) -> timedelta:
    return datetime.combine(date.min, end) - datetime.combine(date.min, start)


def validate_restriction(restriction: Restriction, field: str = "restriction") -> None:
    """Refuse windows that are empty or longer than the period they repeat in."""
    if not isinstance(restriction, Restriction):
        raise ScheduleValidationError(field, "must be a Restriction")
    try:
        kind = RestrictionKind(restriction.kind)
    except ValueError:
        raise ScheduleValidationError(f"{field}.kind", "must be daily or weekly") from None
    if not isinstance(restriction.start_time, time) or restriction.start_time.tzinfo is not None:
        raise ScheduleValidationError(
            f"{field}.start_time", "must be a local wall-clock time without a time zone"
        )
    if not isinstance(restriction.duration, timedelta) or restriction.duration <= timedelta(0):
        raise ScheduleValidationError(field, "the window is empty (its end equals its start)")
    weekday = restriction.start_weekday
    if kind == RestrictionKind.DAILY:
        if weekday is not None:
            raise ScheduleValidationError(f"{field}.start_weekday", "daily windows have no weekday")
        if restriction.duration > DAY:
            raise ScheduleValidationError(field, "a daily window cannot be longer than 24 hours")
    else:
        if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6:
            raise ScheduleValidationError(
                f"{field}.start_weekday", "must be 0 (Monday) to 6 (Sunday)"
            )
        if restriction.duration > WEEK:
            raise ScheduleValidationError(field, "a weekly window cannot be longer than 7 days")


def restriction_windows(
    restrictions: Iterable[Restriction], zone: ZoneInfo, since: datetime, until: datetime
) -> list[Span]:
    """The union of the windows' occurrences within [since, until), sorted and merged."""
    first = since.astimezone(zone).date()
    last = until.astimezone(zone).date()
    spans: list[Span] = []
    for restriction in restrictions:
        if restriction.kind == RestrictionKind.DAILY:
            # A window can last up to a day, so one that opened two days earlier is the oldest
            # that may still reach `since` (one day, plus slack for DST and odd zones).
            day, step = first - 2 * DAY, DAY
        else:
            weekday = restriction.start_weekday or 0
            day, step = first - timedelta(days=(first.weekday() - weekday) % 7) - 2 * WEEK, WEEK
        while day <= last:
            opens_wall = datetime.combine(day, restriction.start_time)
            opens = local_to_utc(opens_wall, zone)
            if opens >= until:
                break
            closes = local_to_utc(opens_wall + restriction.duration, zone)
            if closes > since and closes > opens:
                spans.append((max(opens, since), min(closes, until)))
            day += step
    return merge_spans(spans)


def merge_spans(spans: list[Span]) -> list[Span]:
    """Sort spans and join those that overlap or touch, so a 24-hour daily window is continuous."""
    spans.sort()
    merged: list[Span] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def clip_to_spans(segments: Sequence[Segment], spans: Sequence[Span]) -> list[Segment]:
    """The parts of sorted, non-overlapping segments that fall inside sorted, merged spans."""
    out: list[Segment] = []
    j = 0
    for start, end, user in segments:
        while j < len(spans) and spans[j][1] <= start:
            j += 1
        k = j
        while k < len(spans) and spans[k][0] < end:
            lo = max(start, spans[k][0])
            hi = min(end, spans[k][1])
            if lo < hi:
                out.append((lo, hi, user))
            k += 1
    return out


def overlap(spans_a: Sequence[Span], spans_b: Sequence[Span]) -> timedelta:
    """Total time two sorted, non-overlapping span lists share (for load reports)."""
    total = timedelta(0)
    i = j = 0
    while i < len(spans_a) and j < len(spans_b):
        lo = max(spans_a[i][0], spans_b[j][0])
        hi = min(spans_a[i][1], spans_b[j][1])
        if lo < hi:
            total += hi - lo
        if spans_a[i][1] <= spans_b[j][1]:
            i += 1
        else:
            j += 1
    return total
