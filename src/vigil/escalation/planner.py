"""The pure escalation planner: which level fires when, how repeats wrap, and support hours.

No database, no clock: every function is a function of the policy snapshot, the escalation's
position and `now`, so the rules can be property-tested.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class Step:
    """What happens when an escalation is due: `level` fires, then the escalation moves on."""

    level: int
    cycle: int
    next_level: int
    next_cycle: int
    next_at: datetime | None  # None: every level and repeat has fired


def step(
    levels: Sequence[dict[str, Any]], *, repeat: int, level: int, cycle: int, now: datetime
) -> Step:
    """Fire `level` of `cycle` now; the next level fires after this level's delay.

    After the last level the policy starts over at level 0 while repeats remain (`repeat` extra
    runs); after the final one, nothing more is scheduled.
    """
    delay = timedelta(minutes=int(levels[level].get("delay_minutes", 0)))
    next_level, next_cycle = level + 1, cycle
    if next_level >= len(levels):
        next_level, next_cycle = 0, cycle + 1
    if next_cycle > repeat:
        return Step(level, cycle, next_level, next_cycle, None)
    return Step(level, cycle, next_level, next_cycle, now + delay)


def pick_targets(
    targets: Sequence[dict[str, Any]], *, mode: str, incident_id: int, cycle: int
) -> list[dict[str, Any]]:
    """All targets, or one in round-robin: successive incidents (and repeats) go to the next one."""
    if mode != "round_robin" or not targets:
        return list(targets)
    return [targets[(incident_id + cycle) % len(targets)]]


WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class SupportHours:
    """A weekly window of local days and times when low-urgency incidents notify people."""

    time_zone: str
    days: tuple[int, ...]  # 0 = Monday
    start: time
    end: time

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> SupportHours | None:
        if not data:
            return None
        return cls(
            time_zone=data["time_zone"],
            days=tuple(WEEKDAY_NAMES.index(d) for d in data["days"]),
            start=time.fromisoformat(data["start"]),
            end=time.fromisoformat(data["end"]),
        )

    def contains(self, when: datetime) -> bool:
        local = when.astimezone(ZoneInfo(self.time_zone))
        return local.weekday() in self.days and self.start <= local.time() < self.end

    def next_start(self, when: datetime) -> datetime:
        """The next instant support hours begin at or after `when` (now, if they are on).

        Compares instants, not wall-clock times, so DST nights are right: an opening time that
        does not exist that day opens at the jump, and one that happens twice opens at the first.
        """
        if self.contains(when):
            return when
        zone = ZoneInfo(self.time_zone)
        first_day = when.astimezone(zone).date()
        candidates = _offset_changes(zone, when, when + timedelta(days=8))
        for offset in range(8):
            day = first_day + timedelta(days=offset)
            if day.weekday() in self.days:
                opening = datetime.combine(day, self.start, tzinfo=zone)
                candidates += [opening.replace(fold=fold).astimezone(UTC) for fold in (0, 1)]
        for candidate in sorted(c for c in candidates if c >= when):
            if self.contains(candidate):
                return candidate.astimezone(when.tzinfo)
        raise ValueError("support hours have no day")  # unreachable: days is never empty


def _offset_changes(zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """Instants in [start, end] where the zone's UTC offset changes, to the second."""

    def offset(second: int) -> timedelta | None:
        return datetime.fromtimestamp(second, UTC).astimezone(zone).utcoffset()

    found: list[datetime] = []
    at, stop = int(start.timestamp()), int(end.timestamp()) + 1
    while at < stop:
        step_end = at + 3600
        if offset(at) != offset(step_end):
            low, high = at, step_end
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if offset(middle) == offset(low) else (low, middle)
            found.append(datetime.fromtimestamp(high, UTC))
        at = step_end
    return found
