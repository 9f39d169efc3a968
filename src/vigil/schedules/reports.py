"""Reports over resolved schedules: how much on-call each user carries, and where nobody is.

Load is measured in each user's own time zone, because "outside working hours" and "the weekend"
mean the user's evenings and Saturdays, not the schedule's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from vigil.clock import ensure_utc
from vigil.schedules.calculator import Gap, Schedule, final_shifts, gaps, validate_window
from vigil.schedules.restrictions import Restriction, RestrictionKind, overlap, restriction_windows
from vigil.schedules.rotation import require_aware, zone_for

WORKING_HOURS = Restriction.daily(time(8, 0), time(20, 0))
WEEKEND = Restriction(RestrictionKind.WEEKLY, time(0, 0), timedelta(days=2), start_weekday=5)
UPCOMING_GAPS_HORIZON = timedelta(days=14)


@dataclass(frozen=True, slots=True)
class UserLoad:
    """One user's on-call burden over a report window.

    `off_hours` is on-call time outside 08:00–20:00 and `weekend` is on-call time on Saturday or
    Sunday, both in the user's own zone (the two overlap on weekend nights). `shift_count` counts
    merged final shifts that overlap the window, so a shift cut by the window's edge counts once
    in each window it touches.
    """

    user_id: int
    on_call: timedelta
    off_hours: timedelta
    weekend: timedelta
    shift_count: int

    @property
    def on_call_hours(self) -> float:
        return self.on_call / timedelta(hours=1)

    @property
    def off_hours_hours(self) -> float:
        return self.off_hours / timedelta(hours=1)

    @property
    def weekend_hours(self) -> float:
        return self.weekend / timedelta(hours=1)


def on_call_load(
    schedule: Schedule,
    *,
    since: datetime,
    until: datetime,
    user_time_zones: Mapping[int, str],
) -> list[UserLoad]:
    """Per-user load over [since, until), sorted by user id.

    Every participant of a version active in the window and every user with an override in it
    gets a row, even with zero time, so fairness reports show who carried nothing. A user missing
    from `user_time_zones` is measured in the schedule's zone.
    """
    since, until = validate_window(since, until)
    shifts = final_shifts(schedule, since=since, until=until)
    by_user: dict[int, list[tuple[datetime, datetime]]] = {}
    for user_id in _users_in_window(schedule, since, until):
        by_user[user_id] = []
    for shift in shifts:
        by_user.setdefault(shift.user_id, []).append((shift.start, shift.end))

    loads: list[UserLoad] = []
    for user_id in sorted(by_user):
        spans = by_user[user_id]
        zone_name = user_time_zones.get(user_id, schedule.time_zone)
        zone = zone_for(zone_name, f"user_time_zones[{user_id}]")
        total = sum((end - start for start, end in spans), timedelta(0))
        if spans:
            daytime = restriction_windows([WORKING_HOURS], zone, since, until)
            weekend_spans = restriction_windows([WEEKEND], zone, since, until)
            off_hours = total - overlap(spans, daytime)
            weekend = overlap(spans, weekend_spans)
        else:
            off_hours = weekend = timedelta(0)
        loads.append(UserLoad(user_id, total, off_hours, weekend, len(spans)))
    return loads


def _users_in_window(schedule: Schedule, since: datetime, until: datetime) -> set[int]:
    users: set[int] = set()
    for layer in schedule.layers:
        for version in layer.versions:
            end = None if version.end is None else ensure_utc(version.end)
            if ensure_utc(version.start) < until and (end is None or end > since):
                users.update(version.participants)
    for override in schedule.overrides:
        if ensure_utc(override.start) < until and ensure_utc(override.end) > since:
            users.add(override.user_id)
    return users


def upcoming_gaps(
    schedule: Schedule, *, now: datetime, horizon: timedelta = UPCOMING_GAPS_HORIZON
) -> list[Gap]:
    """Gaps from `now` to `now + horizon` (14 days by default): fix them before a page is lost."""
    now = require_aware(now, "now")
    return gaps(schedule, since=now, until=now + horizon)
