"""On-call answers from stored schedules: final and per-layer shifts, who is on call, users' shifts,
load and gap reports, and calendar feeds. Loads rows in a few set-based queries, then asks the pure
calculator."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vigil.accounts.models import User
from vigil.schedules import calculator as calc
from vigil.schedules import convert, reports
from vigil.schedules.ics import FeedShift, render_calendar
from vigil.schedules.models import (
    CalendarFeed,
    LayerVersion,
    Override,
    Schedule,
    ScheduleLayer,
)
from vigil.schedules.schemas import (
    LayerShifts,
    LoadRow,
    OnCallEntry,
    ScheduleGaps,
    ShiftRead,
    ShiftsRead,
)
from vigil.schedules.service import localize

FEED_PAST = timedelta(days=30)
FEED_FUTURE = timedelta(days=180)
_UNTIL_HORIZON = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Loaded:
    row: Schedule
    layers: list[ScheduleLayer]
    calc: calc.Schedule


def load(
    session: Session,
    schedules: Sequence[Schedule],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Loaded]:
    """Calculator inputs for many schedules in three queries; overrides limited to the window."""
    ids = [s.id for s in schedules]
    if not ids:
        return []
    layers = list(
        session.scalars(
            sa.select(ScheduleLayer)
            .where(ScheduleLayer.schedule_id.in_(ids))
            .order_by(ScheduleLayer.schedule_id, ScheduleLayer.level)
        )
    )
    layer_ids = [layer.id for layer in layers]
    version_query = sa.select(LayerVersion).where(LayerVersion.layer_id.in_(layer_ids))
    if since is not None:
        version_query = version_query.where(
            sa.or_(LayerVersion.effective_until.is_(None), LayerVersion.effective_until > since)
        )
    if until is not None:
        version_query = version_query.where(LayerVersion.effective_from < until)
    versions = list(session.scalars(version_query.order_by(LayerVersion.effective_from)))
    override_query = sa.select(Override).where(Override.schedule_id.in_(ids))
    if since is not None:
        override_query = override_query.where(Override.end > since)
    if until is not None:
        override_query = override_query.where(Override.start < until)
    overrides = list(session.scalars(override_query.order_by(Override.id)))

    layers_by: dict[int, list[ScheduleLayer]] = defaultdict(list)
    for layer in layers:
        layers_by[layer.schedule_id].append(layer)
    schedule_of_layer = {layer.id: layer.schedule_id for layer in layers}
    versions_by: dict[int, list[LayerVersion]] = defaultdict(list)
    for version in versions:
        versions_by[schedule_of_layer[version.layer_id]].append(version)
    overrides_by: dict[int, list[Override]] = defaultdict(list)
    for override in overrides:
        overrides_by[override.schedule_id].append(override)
    return [
        Loaded(
            row=s,
            layers=layers_by[s.id],
            calc=convert.schedule(s, layers_by[s.id], versions_by[s.id], overrides_by[s.id]),
        )
        for s in schedules
    ]


def _window(since: datetime, until: datetime, zone: str) -> tuple[datetime, datetime]:
    with convert.api_errors():
        return calc.validate_window(localize(since, zone), localize(until, zone))


def _shift_reads(shifts: Sequence[calc.Shift], gaps: Sequence[calc.Gap]) -> list[ShiftRead]:
    reads = [ShiftRead(start=s.start, end=s.end, user_id=s.user_id) for s in shifts]
    reads += [ShiftRead(start=g.start, end=g.end, user_id=None) for g in gaps]
    return sorted(reads, key=lambda r: r.start)


def schedule_shifts(
    session: Session, *, schedule: Schedule, since: datetime, until: datetime, with_layers: bool
) -> ShiftsRead:
    """The final schedule (gaps as entries without a user), and each layer's own when asked."""
    since, until = _window(since, until, schedule.time_zone)
    [loaded] = load(session, [schedule], since=since, until=until)
    final = _shift_reads(
        calc.final_shifts(loaded.calc, since=since, until=until),
        calc.gaps(loaded.calc, since=since, until=until),
    )
    per_layer = None
    if with_layers:
        levels = {layer.level for layer in loaded.calc.layers}
        per_layer = [
            LayerShifts(
                layer_id=layer.id,
                name=layer.name,
                shifts=[
                    ShiftRead(start=s.start, end=s.end, user_id=s.user_id)
                    for s in calc.layer_shifts(
                        loaded.calc, level=layer.level, since=since, until=until
                    )
                ],
            )
            for layer in reversed(loaded.layers)
            if layer.level in levels
        ]
    return ShiftsRead(
        schedule_id=schedule.id, since=since, until=until, final=final, layers=per_layer
    )


@dataclass(frozen=True, slots=True)
class _Timeline:
    """A schedule's final shifts over a window, valid while the schedule's revision holds."""

    revision: str
    start: datetime
    end: datetime
    shifts: list[calc.Shift]


_TIMELINES: dict[tuple[int, str], _Timeline] = {}
_TIMELINES_LOCK = threading.Lock()
_TIMELINE_SPAN = timedelta(days=9)  # the horizon asked for, plus a day of reuse


def _timelines(session: Session, rows: Sequence[Any], at: datetime) -> dict[int, _Timeline]:
    """Final shifts around `at` for each schedule, computed once per schedule revision.

    Answering "who is on call" for every schedule on every request would recompute each
    schedule's rotations; a revision changes on every edit, so a cached timeline is exact.
    """
    found: dict[int, _Timeline] = {}
    stale = []
    with _TIMELINES_LOCK:
        for row in rows:
            cached = _TIMELINES.get((row.id, row.revision))
            if cached and cached.start <= at and at + _UNTIL_HORIZON <= cached.end:
                found[row.id] = cached
            else:
                stale.append(row.id)
    if stale:
        start = at.replace(minute=0, second=0, microsecond=0)
        end = start + _TIMELINE_SPAN
        schedules = list(session.scalars(sa.select(Schedule).where(Schedule.id.in_(stale))))
        fresh = {
            item.row.id: _Timeline(
                item.row.revision,
                start,
                end,
                calc.final_shifts(item.calc, since=start, until=end),
            )
            for item in load(session, schedules, since=start, until=end)
        }
        with _TIMELINES_LOCK:
            if len(_TIMELINES) > 50_000:
                _TIMELINES.clear()
            for schedule_id, timeline in fresh.items():
                _TIMELINES[(schedule_id, timeline.revision)] = timeline
        found.update(fresh)
    return found


def on_call_at(session: Session, *, at: datetime) -> list[OnCallEntry]:
    """Who is on call on every schedule at `at` (naive: UTC), with when their shift ends."""
    at = localize(at, "UTC").astimezone(UTC)
    rows = session.execute(
        sa.select(Schedule.id, Schedule.name, Schedule.revision).order_by(Schedule.name)
    ).all()
    timelines = _timelines(session, rows, at)
    names = dict(session.execute(sa.select(User.id, User.name)).tuples().all())
    entries = []
    for row in rows:
        shifts = timelines[row.id].shifts
        index = bisect.bisect_right([s.start for s in shifts], at) - 1
        current = shifts[index] if index >= 0 and shifts[index].end > at else None
        entries.append(
            OnCallEntry(
                schedule_id=row.id,
                schedule_name=row.name,
                user_id=current.user_id if current else None,
                user_name=names.get(current.user_id) if current else None,
                since=None,
                until=current.end if current and current.end < at + _UNTIL_HORIZON else None,
            )
        )
    return entries


def on_call_user(session: Session, *, schedule_id: int, at: datetime) -> int | None:
    """The one user on call on a schedule at an instant (what escalation asks), or None."""
    schedule = session.get(Schedule, schedule_id)
    if schedule is None:
        return None
    [loaded] = load(session, [schedule], since=at, until=at + timedelta(seconds=1))
    return calc.on_call_at(loaded.calc, at=at)


def user_shifts(
    session: Session, *, user: User, since: datetime, until: datetime
) -> list[ShiftRead]:
    """A user's final shifts on every schedule in a window (naive times: the user's zone)."""
    since, until = _window(since, until, user.time_zone)
    schedules = list(session.scalars(sa.select(Schedule).order_by(Schedule.id)))
    result = []
    for item in load(session, schedules, since=since, until=until):
        result += [
            ShiftRead(start=s.start, end=s.end, user_id=s.user_id, schedule_id=item.row.id)
            for s in calc.final_shifts(item.calc, since=since, until=until)
            if s.user_id == user.id
        ]
    return sorted(result, key=lambda r: r.start)


def load_report(
    session: Session, *, since: datetime, until: datetime, team_id: int | None
) -> list[LoadRow]:
    """Per user: hours on call, off-hours, weekend hours and shifts, summed over schedules."""
    since, until = _window(since, until, "UTC")
    query = sa.select(Schedule).order_by(Schedule.id)
    if team_id is not None:
        query = query.where(Schedule.team_id == team_id)
    schedules = list(session.scalars(query))
    users = {u.id: u for u in session.scalars(sa.select(User))}
    zones = {user_id: user.time_zone for user_id, user in users.items()}
    totals: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    for item in load(session, schedules, since=since, until=until):
        for row in reports.on_call_load(item.calc, since=since, until=until, user_time_zones=zones):
            total = totals[row.user_id]
            total[0] += row.on_call_hours
            total[1] += row.off_hours_hours
            total[2] += row.weekend_hours
            total[3] += row.shift_count
    return sorted(
        (
            LoadRow(
                user_id=user_id,
                user_name=users[user_id].name if user_id in users else f"user {user_id}",
                hours_on_call=round(hours, 2),
                hours_off_hours=round(off, 2),
                hours_weekend=round(weekend, 2),
                shifts=int(count),
            )
            for user_id, (hours, off, weekend, count) in totals.items()
        ),
        key=lambda row: (-row.hours_on_call, row.user_id),
    )


def gap_report(session: Session, *, now: datetime) -> list[ScheduleGaps]:
    """Per schedule, the gaps in the next 14 days: what to fix before it pages nobody."""
    horizon = reports.UPCOMING_GAPS_HORIZON
    schedules = list(session.scalars(sa.select(Schedule).order_by(Schedule.name)))
    return [
        ScheduleGaps(
            schedule_id=item.row.id,
            schedule_name=item.row.name,
            gaps=[
                ShiftRead(start=g.start, end=g.end, user_id=None, schedule_id=item.row.id)
                for g in reports.upcoming_gaps(item.calc, now=now)
            ],
        )
        for item in load(session, schedules, since=now, until=now + horizon)
    ]


def render_feed(session: Session, *, feed: CalendarFeed, now: datetime, url: str) -> bytes:
    """The iCalendar body of a schedule's or a user's feed."""
    since, until = now - FEED_PAST, now + FEED_FUTURE
    query = sa.select(Schedule).order_by(Schedule.id)
    if feed.schedule_id is not None:
        query = query.where(Schedule.id == feed.schedule_id)
    schedules = list(session.scalars(query))
    names = dict(session.execute(sa.select(User.id, User.name)).tuples().all())
    shifts = []
    for item in load(session, schedules, since=since, until=until):
        for shift in calc.final_shifts(item.calc, since=since, until=until):
            if feed.user_id is not None and shift.user_id != feed.user_id:
                continue
            shifts.append(
                FeedShift(
                    schedule_id=item.row.id,
                    schedule_name=item.row.name,
                    user_id=shift.user_id,
                    user_name=names.get(shift.user_id, f"user {shift.user_id}"),
                    start=shift.start,
                    end=shift.end,
                )
            )
    if feed.schedule_id is not None:
        title = f"On call: {schedules[0].name}" if schedules else "On call"
    else:
        title = f"On call: {names.get(feed.user_id or 0, 'me')}"
    host = urlsplit(url).hostname or "vigil"
    return render_calendar(name=title, shifts=shifts, now=now, host=host, url=url)
