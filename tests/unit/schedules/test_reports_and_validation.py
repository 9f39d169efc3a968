"""On-call load reports, upcoming gaps, and validation errors that name the offending field."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from vigil.schedules import (
    Gap,
    Layer,
    LayerVersion,
    Override,
    Restriction,
    RestrictionKind,
    Rotation,
    RotationUnit,
    Schedule,
    ScheduleValidationError,
    final_shifts,
    on_call_load,
    upcoming_gaps,
    validate_override,
    validate_restriction,
    validate_rotation,
    validate_schedule,
    validate_time_zone,
    validate_window,
)

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 1, 5, 8, tzinfo=UTC)  # 09:00 in Berlin


def weekly(participants: tuple[int, ...], end: datetime | None = None) -> LayerVersion:
    return LayerVersion(
        start=MONDAY, participants=participants, rotation=Rotation.weekly(0, time(9)), end=end
    )


def test_load_report_counts_hours_night_hours_and_weekend_hours_in_each_users_zone() -> None:
    schedule = Schedule("Europe/Berlin", (Layer(0, (weekly((1, 2)),)),))
    loads = on_call_load(
        schedule,
        since=MONDAY,
        until=MONDAY + timedelta(days=14),
        user_time_zones={1: "Europe/Berlin", 2: "America/New_York"},
    )
    berlin, new_york = loads
    assert (berlin.user_id, berlin.on_call_hours, berlin.shift_count) == (1, 168, 1)
    # 12 of every 24 hours fall outside 08:00–20:00; the week starts and ends at 09:00 local.
    assert berlin.off_hours_hours == 84
    assert berlin.weekend_hours == 48
    # User 2's week runs from 03:00 Monday New York time: a different split of the same 168 hours.
    assert new_york.on_call_hours == 168
    assert new_york.off_hours_hours == 84
    assert new_york.weekend_hours == 48
    ny = ZoneInfo("America/New_York")
    assert (MONDAY + timedelta(days=7)).astimezone(ny).hour == 3


def test_load_report_lists_participants_who_carried_nothing() -> None:
    schedule = Schedule("Europe/Berlin", (Layer(0, (weekly((1, 2, 3)),)),))
    loads = on_call_load(
        schedule, since=MONDAY, until=MONDAY + timedelta(days=7), user_time_zones={}
    )
    assert [(load.user_id, load.on_call_hours, load.shift_count) for load in loads] == [
        (1, 168, 1),
        (2, 0, 0),
        (3, 0, 0),
    ]


def test_load_report_counts_override_time_for_the_covering_user() -> None:
    override = Override(MONDAY + timedelta(days=1), MONDAY + timedelta(days=1, hours=6), user_id=9)
    schedule = Schedule("Europe/Berlin", (Layer(0, (weekly((1,)),)),), (override,))
    loads = {
        load.user_id: load
        for load in on_call_load(
            schedule, since=MONDAY, until=MONDAY + timedelta(days=7), user_time_zones={}
        )
    }
    assert loads[9].on_call_hours == 6
    assert loads[1].on_call_hours == 162
    assert loads[1].shift_count == 2


def test_upcoming_gaps_looks_14_days_ahead() -> None:
    version = weekly((1,), end=MONDAY + timedelta(days=10))
    schedule = Schedule("Europe/Berlin", (Layer(0, (version,)),))
    assert upcoming_gaps(schedule, now=MONDAY) == [
        Gap(MONDAY + timedelta(days=10), MONDAY + timedelta(days=14))
    ]


def test_unknown_time_zone_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"^schedule\.time_zone: unknown time zone 'Mars/Olympus'"):
        validate_schedule(Schedule("Mars/Olympus"))
    for bad in ("", "../../etc/passwd", "europe/berlin"):
        with pytest.raises(ScheduleValidationError) as caught:
            validate_time_zone(bad)
        assert caught.value.field == "time_zone"


@pytest.mark.parametrize("length", [0, -1])
def test_rotation_length_must_be_positive(length: int) -> None:
    with pytest.raises(ValueError, match=r"^rotation\.length: must be a positive"):
        validate_rotation(Rotation(RotationUnit.DAYS, length))


def test_only_weekly_rotations_have_a_handoff_day() -> None:
    with pytest.raises(ValueError, match=r"^rotation\.handoff_weekday"):
        validate_rotation(Rotation(RotationUnit.DAYS, 1, time(9), 2))
    with pytest.raises(ValueError, match=r"^rotation\.handoff_weekday"):
        validate_rotation(Rotation.weekly(7))


@pytest.mark.parametrize(
    ("restriction", "message"),
    [
        (Restriction.daily(time(9), time(9)), "empty"),
        (Restriction.weekly(0, time(9), 0, time(9)), "empty"),
        (Restriction(RestrictionKind.DAILY, time(9), timedelta(hours=25)), "longer than 24 hours"),
        (Restriction(RestrictionKind.WEEKLY, time(9), timedelta(days=8), 0), "longer than 7 days"),
        (Restriction(RestrictionKind.DAILY, time(9), timedelta(hours=-1)), "empty"),
    ],
)
def test_restriction_that_is_empty_or_longer_than_its_period_is_refused(
    restriction: Restriction, message: str
) -> None:
    with pytest.raises(ValueError, match=rf"^restriction: .*{message}"):
        validate_restriction(restriction)


def test_restriction_shows_back_the_end_the_user_gave() -> None:
    weekend = Restriction.weekly(4, time(18), 0, time(8))
    assert (weekend.end_weekday, weekend.end_time) == (0, time(8))
    assert Restriction.daily(time(22), time(6)).end_time == time(6)


def test_layer_without_participants_is_refused_with_the_path_to_it() -> None:
    schedule = Schedule("UTC", (Layer(0, (weekly((1,)),)), Layer(1, (weekly(()),))))
    with pytest.raises(ScheduleValidationError) as caught:
        validate_schedule(schedule)
    assert caught.value.field == "schedule.layers[1].versions[0].participants"


def test_overlapping_versions_of_one_layer_are_refused() -> None:
    first = weekly((1,), end=MONDAY + timedelta(days=7))
    second = LayerVersion(
        start=MONDAY + timedelta(days=6), participants=(2,), rotation=Rotation.daily()
    )
    with pytest.raises(ValueError, match=r"versions\[1\]\.start: overlaps"):
        validate_schedule(Schedule("UTC", (Layer(0, (first, second)),)))


def test_duplicate_levels_are_refused() -> None:
    with pytest.raises(ValueError, match=r"layers\[1\]\.level"):
        validate_schedule(Schedule("UTC", (Layer(0, (weekly((1,)),)), Layer(0, (weekly((2,)),)))))


def test_override_must_end_after_it_starts_and_last_at_most_90_days() -> None:
    with pytest.raises(ValueError, match=r"^override\.end: must be after start"):
        validate_override(Override(MONDAY, MONDAY, 1))
    with pytest.raises(ValueError, match=r"^override\.end: .*90 days"):
        validate_override(Override(MONDAY, MONDAY + timedelta(days=90, seconds=1), 1))
    validate_override(Override(MONDAY, MONDAY + timedelta(days=90), 1))


def test_query_window_must_be_forward_and_at_most_two_years() -> None:
    with pytest.raises(ValueError, match=r"^until: must be after since"):
        validate_window(MONDAY, MONDAY)
    with pytest.raises(ValueError, match=r"^until: .*2 years"):
        final_shifts(Schedule("UTC"), since=MONDAY, until=MONDAY + timedelta(days=800))


def test_naive_datetimes_are_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match=r"^since: must be a timezone-aware"):
        validate_window(datetime(2026, 1, 1), MONDAY)
