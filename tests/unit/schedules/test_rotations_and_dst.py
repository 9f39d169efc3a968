"""Rotations across DST: handoffs keep local wall-clock time, hour rotations keep elapsed hours."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from vigil.schedules import (
    Layer,
    LayerVersion,
    Rotation,
    Schedule,
    final_shifts,
    layer_shifts,
    local_to_utc,
    on_call_at,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
TOKYO = ZoneInfo("Asia/Tokyo")


def at(zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A local wall-clock time as aware UTC, the way a user states it."""
    return datetime(year, month, day, hour, minute, tzinfo=zone).astimezone(UTC)


def single_layer(
    zone: str, rotation: Rotation, start: datetime, participants: tuple[int, ...] = (1, 2, 3)
) -> Schedule:
    version = LayerVersion(start=start, participants=participants, rotation=rotation)
    return Schedule(zone, layers=(Layer(level=0, versions=(version,)),))


def test_weekly_berlin_handoff_stays_monday_0900_so_dst_weeks_are_167_and_169_hours() -> None:
    schedule = single_layer("Europe/Berlin", Rotation.weekly(0, time(9)), at(BERLIN, 2026, 1, 5, 9))
    shifts = final_shifts(
        schedule, since=at(BERLIN, 2026, 1, 5, 9), until=at(BERLIN, 2027, 1, 4, 9)
    )
    assert len(shifts) == 52
    for shift in shifts:
        local = shift.start.astimezone(BERLIN)
        assert (local.weekday(), local.time()) == (0, time(9))
    by_start = {s.start.astimezone(BERLIN).date().isoformat(): s.duration for s in shifts}
    assert by_start["2026-03-23"] == timedelta(hours=167)  # contains Sunday 29 March
    assert by_start["2026-10-19"] == timedelta(hours=169)  # contains Sunday 25 October
    assert by_start["2026-06-01"] == timedelta(hours=168)


def test_daily_new_york_handoff_stays_0900_so_the_spring_day_is_23_hours() -> None:
    schedule = single_layer(
        "America/New_York", Rotation.daily(time(9)), at(NEW_YORK, 2026, 3, 1, 9)
    )
    shifts = final_shifts(
        schedule, since=at(NEW_YORK, 2026, 3, 6, 9), until=at(NEW_YORK, 2026, 3, 10, 9)
    )
    assert [s.start.astimezone(NEW_YORK).hour for s in shifts] == [9, 9, 9, 9]
    assert [s.duration / timedelta(hours=1) for s in shifts] == [
        24,
        23,
        24,
        24,
    ]  # 7 March 09:00 → 8 March 09:00 loses an hour


def test_daily_new_york_fall_back_day_is_25_hours() -> None:
    schedule = single_layer(
        "America/New_York", Rotation.daily(time(9)), at(NEW_YORK, 2026, 10, 1, 9)
    )
    shifts = final_shifts(
        schedule, since=at(NEW_YORK, 2026, 10, 31, 9), until=at(NEW_YORK, 2026, 11, 2, 9)
    )
    assert [s.duration / timedelta(hours=1) for s in shifts] == [25, 24]


def test_lord_howe_half_hour_dst_makes_days_23_5_and_24_5_hours() -> None:
    rotation = Rotation.daily(time(9))
    spring = single_layer("Australia/Lord_Howe", rotation, at(LORD_HOWE, 2026, 9, 1, 9))
    shifts = final_shifts(
        spring, since=at(LORD_HOWE, 2026, 10, 3, 9), until=at(LORD_HOWE, 2026, 10, 5, 9)
    )
    assert [s.duration / timedelta(hours=1) for s in shifts] == [23.5, 24]
    autumn = single_layer("Australia/Lord_Howe", rotation, at(LORD_HOWE, 2026, 3, 1, 9))
    shifts = final_shifts(
        autumn, since=at(LORD_HOWE, 2026, 4, 4, 9), until=at(LORD_HOWE, 2026, 4, 6, 9)
    )
    assert [s.duration / timedelta(hours=1) for s in shifts] == [24.5, 24]


@pytest.mark.parametrize("zone_name", ["Asia/Tokyo", "UTC"])
def test_zones_without_dst_have_168_hour_weeks_all_year(zone_name: str) -> None:
    zone = ZoneInfo(zone_name)
    schedule = single_layer(zone_name, Rotation.weekly(0, time(9)), at(zone, 2026, 1, 5, 9))
    shifts = final_shifts(schedule, since=at(zone, 2026, 1, 5, 9), until=at(zone, 2027, 1, 4, 9))
    assert {s.duration for s in shifts} == {timedelta(hours=168)}
    assert {s.start.astimezone(zone).time() for s in shifts} == {time(9)}


def test_spring_forward_handoff_at_a_missing_time_happens_when_the_clock_jumps() -> None:
    # 02:30 does not exist in Berlin on 29 March 2026: clocks go from 02:00 straight to 03:00.
    schedule = single_layer(
        "Europe/Berlin", Rotation.daily(time(2, 30)), at(BERLIN, 2026, 3, 20, 2, 30), (1, 2)
    )
    shifts = final_shifts(
        schedule, since=at(BERLIN, 2026, 3, 28, 12), until=at(BERLIN, 2026, 3, 31, 0)
    )
    handoffs = [s.start for s in shifts[1:]]
    assert handoffs[0] == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert handoffs[0].astimezone(BERLIN).time() == time(3, 0)
    assert handoffs[1].astimezone(BERLIN).time() == time(2, 30)  # back to normal the next day


def test_spring_forward_in_new_york_moves_a_0230_handoff_to_0300_edt() -> None:
    assert local_to_utc(datetime(2026, 3, 8, 2, 30), NEW_YORK) == datetime(
        2026, 3, 8, 7, 0, tzinfo=UTC
    )


def test_fall_back_handoff_at_a_repeated_time_happens_at_its_first_occurrence() -> None:
    schedule = single_layer(
        "Europe/Berlin", Rotation.daily(time(2, 30)), at(BERLIN, 2026, 10, 20, 2, 30), (1, 2)
    )
    shifts = final_shifts(
        schedule, since=at(BERLIN, 2026, 10, 24, 12), until=at(BERLIN, 2026, 10, 26, 12)
    )
    first_occurrence = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, not 02:30 CET
    assert shifts[1].start == first_occurrence
    assert shifts[1].duration == timedelta(hours=25)


def test_lord_howe_spring_forward_handoff_inside_the_half_hour_gap_moves_to_0230() -> None:
    # On 4 October 2026 Lord Howe clocks go from 02:00 to 02:30.
    handoff = local_to_utc(datetime(2026, 10, 4, 2, 15), LORD_HOWE)
    assert handoff.astimezone(LORD_HOWE).replace(tzinfo=None) == datetime(2026, 10, 4, 2, 30)


def test_hour_rotation_counts_elapsed_hours_so_its_local_handoff_moves_with_dst() -> None:
    schedule = single_layer(
        "Europe/Berlin", Rotation.hourly(12), at(BERLIN, 2026, 3, 27, 8), (1, 2)
    )
    shifts = final_shifts(
        schedule, since=at(BERLIN, 2026, 3, 28, 8), until=at(BERLIN, 2026, 3, 31, 0)
    )
    assert {s.duration for s in shifts[:-1]} == {timedelta(hours=12)}
    hours = [s.start.astimezone(BERLIN).hour for s in shifts]
    assert hours[:4] == [8, 20, 9, 21]


def test_two_week_rotation_hands_off_every_other_monday() -> None:
    schedule = single_layer(
        "Europe/Berlin", Rotation.weekly(0, time(9), weeks=2), at(BERLIN, 2026, 1, 5, 9)
    )
    shifts = final_shifts(
        schedule, since=at(BERLIN, 2026, 1, 5, 9), until=at(BERLIN, 2026, 3, 2, 9)
    )
    assert [s.user_id for s in shifts] == [1, 2, 3, 1]
    assert [s.start.astimezone(BERLIN).date().day for s in shifts] == [5, 19, 2, 16]


def test_participant_zero_holds_the_turn_that_contains_the_rotation_start() -> None:
    # Version starts on a Wednesday; the weekly Monday handoff is the previous Monday.
    start = at(BERLIN, 2026, 1, 7, 12)
    schedule = single_layer("Europe/Berlin", Rotation.weekly(0, time(9)), start)
    shifts = final_shifts(schedule, since=start, until=at(BERLIN, 2026, 1, 19, 9))
    assert [(s.user_id, s.start, s.end) for s in shifts] == [
        (1, start, at(BERLIN, 2026, 1, 12, 9)),
        (2, at(BERLIN, 2026, 1, 12, 9), at(BERLIN, 2026, 1, 19, 9)),
    ]


def test_a_user_listed_twice_takes_two_turns_and_back_to_back_turns_merge() -> None:
    schedule = single_layer(
        "UTC", Rotation.daily(time(0)), datetime(2026, 1, 1, tzinfo=UTC), (7, 7, 8)
    )
    shifts = layer_shifts(
        schedule,
        level=0,
        since=datetime(2026, 1, 1, tzinfo=UTC),
        until=datetime(2026, 1, 7, tzinfo=UTC),
    )
    assert [(s.user_id, s.duration.days) for s in shifts] == [(7, 2), (8, 1), (7, 2), (8, 1)]


def test_on_call_at_a_handoff_instant_is_the_incoming_user() -> None:
    schedule = single_layer("Europe/Berlin", Rotation.weekly(0, time(9)), at(BERLIN, 2026, 1, 5, 9))
    handoff = at(BERLIN, 2026, 1, 12, 9)
    assert on_call_at(schedule, at=handoff - timedelta(microseconds=1)) == 1
    assert on_call_at(schedule, at=handoff) == 2
