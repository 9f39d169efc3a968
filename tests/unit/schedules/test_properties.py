"""Properties of the calculator that must hold for any schedule, window and IANA zone."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.schedules import (
    Layer,
    LayerVersion,
    Override,
    Restriction,
    Rotation,
    RotationUnit,
    Schedule,
    Shift,
    final_shifts,
    gaps,
    layer_shifts,
    on_call_at,
)

ZONES = sorted(available_timezones())
DST_PRONE = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Santiago"]

zone_names = st.one_of(st.sampled_from(ZONES), st.sampled_from(DST_PRONE))
wall_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 1, 15, 30, 45, 59]))
weekdays = st.integers(0, 6)
rotations = st.one_of(
    st.builds(Rotation.hourly, st.integers(1, 48)),
    st.builds(Rotation.daily, wall_times, st.integers(1, 3)),
    st.builds(
        Rotation, st.just(RotationUnit.WEEKS), st.integers(1, 2), wall_times, st.none() | weekdays
    ),
)
restrictions = st.one_of(
    st.builds(Restriction.daily, wall_times, wall_times),
    st.builds(Restriction.weekly, weekdays, wall_times, weekdays, wall_times),
).filter(lambda r: r.duration > timedelta(0))
participants = st.lists(st.integers(1, 6), min_size=1, max_size=5).map(tuple)
minutes = st.integers(0, 60 * 24 * 40).map(lambda m: timedelta(minutes=m))


@cache
def dst_changes(zone_name: str, year: int) -> tuple[datetime, ...]:
    """Instants in `year` at which the zone's UTC offset changes, to place windows around them."""
    zone = ZoneInfo(zone_name)
    noon = datetime(year, 1, 1, 12, tzinfo=UTC)
    changes = []
    for day in range(365):
        lo, hi = noon + timedelta(days=day), noon + timedelta(days=day + 1)
        if lo.astimezone(zone).utcoffset() == hi.astimezone(zone).utcoffset():
            continue
        first = lo.astimezone(zone).utcoffset()
        while hi - lo > timedelta(seconds=1):
            mid = lo + (hi - lo) / 2
            if mid.astimezone(zone).utcoffset() == first:
                lo = mid
            else:
                hi = mid
        changes.append(hi.replace(microsecond=0))
    return tuple(changes)


@st.composite
def wall_times_near_a_change(draw: st.DrawFn, zone_name: str) -> tuple[time, datetime | None]:
    """A wall-clock time that is skipped or repeated by one of the zone's changes, when it has any.

    Random times rarely land in a DST gap or overlap, so the handoff property aims at them.
    """
    changes = dst_changes(zone_name, draw(st.integers(2000, 2036)))
    if not changes:
        return draw(wall_times), None
    change = draw(st.sampled_from(changes))
    zone = ZoneInfo(zone_name)
    old = (change - timedelta(seconds=1)).astimezone(zone).utcoffset()
    new = change.astimezone(zone).utcoffset()
    assert old is not None and new is not None
    low, high = sorted(
        (change + old, change + new)
    )  # skipped or repeated local times, as UTC+offset
    chosen = low + (high - low) * draw(st.floats(0, 0.99))
    return chosen.replace(tzinfo=None, second=0, microsecond=0).time(), change


@st.composite
def moments(draw: st.DrawFn, zone_name: str) -> datetime:
    """An instant in 2000–2036, usually within a few weeks of one of the zone's DST changes."""
    year = draw(st.integers(2000, 2036))
    changes = dst_changes(zone_name, year)
    near_a_change = draw(st.integers(0, 3)) > 0
    if changes and near_a_change:
        centre = draw(st.sampled_from(changes))
    else:
        centre = datetime(year, 1, 1, tzinfo=UTC) + timedelta(days=draw(st.integers(0, 364)))
    return centre + timedelta(minutes=draw(st.integers(-60 * 24 * 20, 60 * 24 * 20)))


@st.composite
def versions(
    draw: st.DrawFn, zone_name: str, start: datetime, end: datetime | None, restricted: bool
) -> LayerVersion:
    anchor = draw(st.none() | st.just(start) | moments(zone_name))
    return LayerVersion(
        start=start,
        end=end,
        participants=draw(participants),
        rotation=draw(rotations),
        restrictions=tuple(draw(st.lists(restrictions, max_size=2))) if restricted else (),
        rotation_start=anchor,
    )


@st.composite
def layers(draw: st.DrawFn, zone_name: str, around: datetime, level: int) -> Layer:
    """A layer of one to three consecutive versions (with restrictions or not) near `around`."""
    cuts = sorted(draw(st.lists(minutes, min_size=1, max_size=3, unique=True)))
    starts = [around - timedelta(days=15) + cut for cut in cuts]
    ends: list[datetime | None] = [
        *starts[1:],
        draw(st.none() | st.just(starts[-1] + timedelta(days=30))),
    ]
    restricted = draw(st.booleans())
    return Layer(
        level,
        tuple(
            draw(versions(zone_name, s, e, restricted)) for s, e in zip(starts, ends, strict=True)
        ),
    )


@st.composite
def schedules(draw: st.DrawFn) -> tuple[Schedule, datetime]:
    """A schedule with 1–3 layers and 0–4 overrides, and an instant its window is built around."""
    zone_name = draw(zone_names)
    around = draw(moments(zone_name))
    count = draw(st.integers(1, 3))
    levels = draw(st.lists(st.integers(-5, 5), min_size=count, max_size=count, unique=True))
    built = tuple(draw(layers(zone_name, around, level)) for level in levels)
    overrides = tuple(
        Override(
            start,
            start + draw(st.integers(1, 60 * 24 * 5).map(lambda m: timedelta(minutes=m))),
            user,
            id_,
        )
        for start, user, id_ in draw(
            st.lists(
                st.tuples(
                    st.builds(lambda d: around - timedelta(days=10) + d, minutes),
                    st.integers(100, 103),
                    st.integers(0, 3),
                ),
                max_size=4,
            )
        )
    )
    return Schedule(zone_name, built, overrides), around


def merged(shifts: list[Shift]) -> list[Shift]:
    out: list[Shift] = []
    for shift in shifts:
        if out and out[-1].user_id == shift.user_id and out[-1].end == shift.start:
            out[-1] = Shift(out[-1].start, shift.end, shift.user_id)
        else:
            out.append(shift)
    return out


@settings(deadline=None)
@given(data=st.data())
def test_a_layer_without_restrictions_covers_every_instant_of_its_span(data: st.DataObject) -> None:
    zone_name = data.draw(zone_names)
    start = data.draw(moments(zone_name))
    end = data.draw(st.none() | minutes.map(lambda m: start + m + timedelta(minutes=1)))
    version = data.draw(versions(zone_name, start, end, restricted=False))
    schedule = Schedule(zone_name, (Layer(0, (version,)),))
    since = start + data.draw(
        st.integers(-60 * 24 * 10, 60 * 24 * 30).map(lambda m: timedelta(minutes=m))
    )
    until = since + data.draw(minutes) + timedelta(minutes=1)
    shifts = layer_shifts(schedule, level=0, since=since, until=until)
    lo, hi = max(since, start), until if end is None else min(until, end)
    if lo >= hi:
        assert shifts == []
        return
    assert shifts[0].start == lo
    assert shifts[-1].end == hi
    for before, after in itertools.pairwise(shifts):
        assert before.end == after.start
        assert before.user_id != after.user_id
    assert {s.user_id for s in shifts} <= set(version.participants)
    probe = lo + (hi - lo) * data.draw(st.floats(0, 0.999))
    assert on_call_at(schedule, at=probe) is not None


@settings(deadline=None)
@given(data=st.data())
def test_an_override_always_wins(data: st.DataObject) -> None:
    schedule, _ = data.draw(schedules().filter(lambda drawn: bool(drawn[0].overrides)))
    override = data.draw(st.sampled_from(schedule.overrides))
    instant = override.start + (override.end - override.start) * data.draw(st.floats(0, 0.999))
    covering = [
        (o.id, i, o.user_id) for i, o in enumerate(schedule.overrides) if o.start <= instant < o.end
    ]
    expected = max(covering)[2]
    assert on_call_at(schedule, at=instant) == expected
    around = final_shifts(
        schedule, since=instant - timedelta(hours=1), until=instant + timedelta(hours=1)
    )
    assert [s.user_id for s in around if s.start <= instant < s.end] == [expected]


@settings(deadline=None)
@given(data=st.data())
def test_shifts_over_a_window_equal_the_shifts_of_its_two_halves_joined(
    data: st.DataObject,
) -> None:
    schedule, around = data.draw(schedules())
    a = around - timedelta(days=20) + data.draw(minutes)
    b = a + data.draw(minutes) + timedelta(minutes=1)
    c = b + data.draw(minutes) + timedelta(minutes=1)
    whole = final_shifts(schedule, since=a, until=c)
    halves = final_shifts(schedule, since=a, until=b) + final_shifts(schedule, since=b, until=c)
    assert merged(halves) == whole
    # Shifts and gaps tile the window exactly.
    pieces = sorted(
        [(s.start, s.end) for s in whole]
        + [(g.start, g.end) for g in gaps(schedule, since=a, until=c)]
    )
    assert pieces[0][0] == a and pieces[-1][1] == c
    assert all(x[1] == y[0] for x, y in itertools.pairwise(pieces))


@settings(deadline=None)
@given(data=st.data())
def test_shifts_never_overlap_within_a_layer(data: st.DataObject) -> None:
    schedule, around = data.draw(schedules())
    since = around - timedelta(days=20) + data.draw(minutes)
    until = since + data.draw(minutes) + timedelta(minutes=1)
    for layer in schedule.layers:
        shifts = layer_shifts(schedule, level=layer.level, since=since, until=until)
        for shift in shifts:
            assert since <= shift.start < shift.end <= until
            assert shift.start.tzinfo is UTC
        for before, after in itertools.pairwise(shifts):
            assert before.end <= after.start
            assert not (before.end == after.start and before.user_id == after.user_id)


@settings(deadline=None, max_examples=150)
@given(data=st.data())
def test_day_and_week_handoffs_keep_their_local_wall_clock_time_in_any_zone(
    data: st.DataObject,
) -> None:
    zone_name = data.draw(zone_names)
    zone = ZoneInfo(zone_name)
    handoff_time, change = data.draw(wall_times_near_a_change(zone_name))
    if data.draw(st.integers(0, 3)) == 0:
        handoff_time, change = data.draw(wall_times), None
    rotation = data.draw(
        st.one_of(
            st.builds(Rotation.daily, st.just(handoff_time), st.integers(1, 2)),
            st.builds(Rotation.weekly, weekdays, st.just(handoff_time)),
        )
    )
    if change is None:
        start = data.draw(moments(zone_name))
    else:
        start = change - timedelta(days=data.draw(st.integers(1, 20)))
    people = tuple(data.draw(st.lists(st.integers(1, 9), min_size=2, max_size=4, unique=True)))
    version = LayerVersion(start=start, participants=people, rotation=rotation)
    schedule = Schedule(zone_name, (Layer(0, (version,)),))
    since = start + data.draw(minutes) / 4
    shifts = layer_shifts(schedule, level=0, since=since, until=since + timedelta(days=40))

    handoff_dates: list[date] = []
    for shift in shifts[1:]:
        local = shift.start.astimezone(zone)
        before = (shift.start - timedelta(microseconds=1)).astimezone(zone).replace(tzinfo=None)
        assert local.fold == 0  # a repeated local time hands off at its first occurrence
        # The handoff is the first instant at or after the handoff wall-clock time on its day;
        # when that time does not exist, it is the jump that skipped it.
        day, matches = before.date(), []
        while day <= local.date():
            target = datetime.combine(day, rotation.handoff_time)
            if before < target <= local.replace(tzinfo=None):
                matches.append(day)
            day += timedelta(days=1)
        assert len(matches) == 1, (shift, local, before)
        handoff_dates.append(matches[0])
        if rotation.handoff_weekday is not None:
            assert matches[0].weekday() == rotation.handoff_weekday
    step = rotation.length * (7 if rotation.unit == RotationUnit.WEEKS else 1)
    assert all((b - a).days == step for a, b in itertools.pairwise(handoff_dates))


def _inside(restriction: Restriction, wall: datetime) -> bool:
    """Whether a local wall-clock time falls inside a window, by position within its period."""
    if restriction.start_weekday is None:
        period = timedelta(days=1)
        position = wall - datetime.combine(wall.date(), restriction.start_time)
    else:
        period = timedelta(days=7)
        opening_day = wall.date() - timedelta(days=wall.weekday() - restriction.start_weekday)
        position = wall - datetime.combine(opening_day, restriction.start_time)
    return position % period <= restriction.duration


@settings(deadline=None)
@given(data=st.data())
def test_a_restricted_layer_is_only_on_call_inside_its_local_windows(data: st.DataObject) -> None:
    schedule, around = data.draw(schedules())
    zone = ZoneInfo(schedule.time_zone)
    since = around - timedelta(days=20) + data.draw(minutes)
    until = since + data.draw(minutes) + timedelta(minutes=1)
    for layer in schedule.layers:
        for shift in layer_shifts(schedule, level=layer.level, since=since, until=until):
            for instant in (shift.start, shift.end - timedelta(microseconds=1)):
                version = next(
                    v
                    for v in layer.versions
                    if v.start <= instant and (v.end is None or instant < v.end)
                )
                if version.restrictions:
                    wall = instant.astimezone(zone).replace(tzinfo=None)
                    assert any(_inside(r, wall) for r in version.restrictions), (shift, wall)
