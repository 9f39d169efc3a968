"""Properties of the pure escalation planner: levels and repeats stay within the policy, round
robin shares the load, and support hours open at the right local time across DST and weekends."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.escalation.planner import WEEKDAY_NAMES, SupportHours, pick_targets, step

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

levels_lists = st.lists(
    st.fixed_dictionaries(
        {
            "targets": st.just([{"type": "user", "id": 1}]),
            "delay_minutes": st.integers(0, 1440),
        }
    ),
    min_size=1,
    max_size=6,
)


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """Berlin wall-clock time as aware UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


def run_policy(
    levels: list[dict[str, Any]], repeat: int, now: datetime
) -> list[tuple[int, int, datetime]]:
    """Step an escalation from its first level until the planner stops it: (level, cycle, at)."""
    fired: list[tuple[int, int, datetime]] = []
    level, cycle, at = 0, 0, now
    for _ in range(len(levels) * (repeat + 1) + 1):  # one more than the policy allows
        result = step(levels, repeat=repeat, level=level, cycle=cycle, now=at)
        fired.append((result.level, result.cycle, at))
        if result.next_at is None:
            return fired
        assert 0 <= result.next_level < len(levels)
        assert 0 <= result.next_cycle <= repeat
        assert result.next_at == at + timedelta(minutes=levels[level]["delay_minutes"])
        level, cycle, at = result.next_level, result.next_cycle, result.next_at
    raise AssertionError(f"the escalation never stopped: {fired}")


@given(levels=levels_lists, repeat=st.integers(0, 9))
def test_each_level_fires_once_per_run_of_the_policy_in_order_then_escalation_stops(
    levels: list[dict[str, Any]], repeat: int
) -> None:
    fired = run_policy(levels, repeat, T0)
    assert [(level, cycle) for level, cycle, _at in fired] == [
        (level, cycle) for cycle in range(repeat + 1) for level in range(len(levels))
    ]


@given(levels=levels_lists, repeat=st.integers(0, 9))
def test_each_level_fires_its_predecessors_delay_after_it(
    levels: list[dict[str, Any]], repeat: int
) -> None:
    fired = run_policy(levels, repeat, T0)
    for (previous, _cycle, before), (_level, _next_cycle, after) in pairwise(fired):
        assert after - before == timedelta(minutes=levels[previous]["delay_minutes"])


@given(levels=levels_lists, repeat=st.integers(0, 9))
def test_the_last_level_of_the_last_run_schedules_nothing_more(
    levels: list[dict[str, Any]], repeat: int
) -> None:
    last = step(levels, repeat=repeat, level=len(levels) - 1, cycle=repeat, now=T0)
    assert last.next_at is None
    assert (last.level, last.cycle) == (len(levels) - 1, repeat)


def test_a_two_level_policy_pages_alice_then_bob_five_minutes_later() -> None:
    levels = [
        {"targets": [{"type": "user", "id": 1}], "delay_minutes": 5},
        {"targets": [{"type": "user", "id": 2}], "delay_minutes": 5},
    ]
    first = step(levels, repeat=0, level=0, cycle=0, now=T0)
    assert (first.next_level, first.next_cycle, first.next_at) == (1, 0, T0 + timedelta(minutes=5))
    second = step(levels, repeat=0, level=1, cycle=0, now=first.next_at)
    assert second.next_at is None


# --- round robin ---------------------------------------------------------------------------

target_lists = st.lists(st.integers(1, 1000), min_size=1, max_size=8, unique=True).map(
    lambda ids: [{"type": "user", "id": i} for i in ids]
)


@given(
    targets=target_lists,
    incident_id=st.integers(1, 10**9),
    cycle=st.integers(0, 9),
)
def test_round_robin_pages_exactly_one_target(
    targets: list[dict[str, Any]], incident_id: int, cycle: int
) -> None:
    chosen = pick_targets(targets, mode="round_robin", incident_id=incident_id, cycle=cycle)
    assert len(chosen) == 1
    assert chosen[0] in targets


@given(targets=target_lists, first_incident=st.integers(1, 10**9), cycle=st.integers(0, 9))
def test_successive_incidents_cycle_through_every_round_robin_target(
    targets: list[dict[str, Any]], first_incident: int, cycle: int
) -> None:
    picks = [
        pick_targets(targets, mode="round_robin", incident_id=incident_id, cycle=cycle)[0]["id"]
        for incident_id in range(first_incident, first_incident + 2 * len(targets))
    ]
    ids = [t["id"] for t in targets]
    assert sorted(picks[: len(targets)]) == sorted(ids)  # everyone once before anyone twice
    assert picks[len(targets) :] == picks[: len(targets)]  # then the same order again


@given(targets=target_lists, incident_id=st.integers(1, 10**9))
def test_each_repeat_of_the_policy_moves_round_robin_to_the_next_target(
    targets: list[dict[str, Any]], incident_id: int
) -> None:
    picks = [
        pick_targets(targets, mode="round_robin", incident_id=incident_id, cycle=cycle)[0]["id"]
        for cycle in range(len(targets))
    ]
    assert sorted(picks) == sorted(t["id"] for t in targets)


@given(targets=target_lists, incident_id=st.integers(1, 10**9), cycle=st.integers(0, 9))
def test_mode_all_pages_every_target(
    targets: list[dict[str, Any]], incident_id: int, cycle: int
) -> None:
    assert pick_targets(targets, mode="all", incident_id=incident_id, cycle=cycle) == targets


# --- support hours -------------------------------------------------------------------------

WEEKDAYS = SupportHours("Europe/Berlin", (0, 1, 2, 3, 4), time(9), time(18))
# Berlin's clocks go forward on 2026-03-29 and back on 2026-10-25, both Sundays at 01:00 UTC.
DST_CHANGES = (datetime(2026, 3, 29, 1, tzinfo=UTC), datetime(2026, 10, 25, 1, tzinfo=UTC))

# Berlin skips 02:00-03:00 in spring and repeats it in autumn. A window that opens or closes in
# that hour is where next_start compares wall times and gets it wrong (the xfail tests below), so
# the properties leave that hour out until it is fixed (then let them use it too).
outside_the_changing_hour = st.builds(
    time, st.sampled_from([h for h in range(24) if h != 2]), st.sampled_from([0, 15, 30, 45])
)
windows = (
    st.tuples(outside_the_changing_hour, outside_the_changing_hour)
    .filter(lambda w: w[0] != w[1])
    .map(lambda w: (min(w), max(w)))
)
day_sets = st.sets(st.integers(0, 6), min_size=1).map(lambda days: tuple(sorted(days)))
minutes_near_dst = st.builds(
    lambda change, offset: change + timedelta(minutes=offset),
    st.sampled_from(DST_CHANGES),
    st.integers(-8 * 1440, 8 * 1440),
)
minutes_in_the_year = st.integers(0, 365 * 1440).map(
    lambda m: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=m)
)
instants = st.one_of(minutes_near_dst, minutes_in_the_year)
any_hours = st.builds(
    lambda days, window: SupportHours("Europe/Berlin", days, window[0], window[1]),
    day_sets,
    windows,
)
# Windows opening in the small hours of a Sunday, looked at within hours of the change itself,
# where a wall-clock mistake would show.
small_hours_windows = st.builds(
    lambda start, end_hour, end_minute: (start, max(start, time(end_hour, end_minute))),
    st.builds(time, st.sampled_from([1, 3]), st.sampled_from([0, 15, 30, 45])),
    st.integers(3, 23),
    st.sampled_from([0, 15, 30, 45]),
).filter(lambda w: w[0] < w[1])
sunday_night_hours = st.builds(
    lambda days, window: SupportHours("Europe/Berlin", tuple(sorted({6, *days})), *window),
    day_sets,
    small_hours_windows,
)
minutes_around_the_change = st.builds(
    lambda change, offset: change + timedelta(minutes=offset),
    st.sampled_from(DST_CHANGES),
    st.integers(-4 * 60, 4 * 60),
)


def assert_opens_at_first_supported_minute(hours: SupportHours, when: datetime) -> None:
    opening = hours.next_start(when)
    assert opening >= when, f"next window {opening} is before {when}"
    assert hours.contains(opening)
    minute = when
    while minute < opening:
        assert not hours.contains(minute), f"{minute} is supported but the window opens {opening}"
        minute += timedelta(minutes=1)


@settings(max_examples=100, deadline=None)  # each example walks every minute until the window
@given(hours=any_hours, when=instants)
def test_support_hours_open_at_the_first_supported_minute_at_or_after_now(
    hours: SupportHours, when: datetime
) -> None:
    assert_opens_at_first_supported_minute(hours, when)


@settings(max_examples=150, deadline=None)
@given(hours=sunday_night_hours, when=minutes_around_the_change)
def test_support_hours_open_at_the_first_supported_minute_on_the_nights_clocks_change(
    hours: SupportHours, when: datetime
) -> None:
    assert_opens_at_first_supported_minute(hours, when)


@given(hours=any_hours, when=instants)
def test_support_hours_contain_exactly_the_local_window_on_the_chosen_days(
    hours: SupportHours, when: datetime
) -> None:
    local = when.astimezone(BERLIN)
    expected = local.weekday() in hours.days and hours.start <= local.time() < hours.end
    assert hours.contains(when) == expected


NIGHT = SupportHours("Europe/Berlin", (6,), time(2, 30), time(4, 0))


def test_in_the_repeated_autumn_hour_the_window_opens_later_not_in_the_past() -> None:
    # 02:15 the second time round (CET) is 01:15 UTC; 02:30 CET follows at 01:30 UTC.
    when = datetime(2026, 10, 25, 1, 15, tzinfo=UTC)
    assert not NIGHT.contains(when)
    assert NIGHT.next_start(when) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_when_the_clocks_skip_the_opening_time_the_window_opens_as_they_jump() -> None:
    # 02:30 does not exist on 2026-03-29: at 01:00 UTC the clocks jump from 02:00 to 03:00 CEST,
    # which is already inside the window.
    when = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert NIGHT.contains(datetime(2026, 3, 29, 1, 0, tzinfo=UTC))
    assert NIGHT.next_start(when) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


def test_when_the_clocks_go_back_into_the_window_it_opens_again() -> None:
    # 01:00-02:15 ends at 02:15 CEST (00:15 UTC); at 01:00 UTC the clocks go back to 02:00 CET,
    # inside the window again, which contains() knows but next_start() skips to next week.
    small_hours = SupportHours("Europe/Berlin", (6,), time(1, 0), time(2, 15))
    back = datetime(2026, 10, 25, 1, 0, tzinfo=UTC)
    assert small_hours.contains(back)
    assert small_hours.next_start(back - timedelta(minutes=30)) == back


@pytest.mark.parametrize(
    ("when", "opens"),
    [
        (berlin(2026, 3, 6, 18, 0), berlin(2026, 3, 9, 9, 0)),  # Friday evening → Monday
        (berlin(2026, 3, 7, 12, 0), berlin(2026, 3, 9, 9, 0)),  # Saturday → Monday
        (berlin(2026, 3, 9, 8, 59), berlin(2026, 3, 9, 9, 0)),  # a minute early → Monday 09:00
        (berlin(2026, 3, 9, 9, 0), berlin(2026, 3, 9, 9, 0)),  # open now → now
        (berlin(2026, 3, 10, 17, 59), berlin(2026, 3, 10, 17, 59)),  # last open minute
        (berlin(2026, 3, 10, 18, 0), berlin(2026, 3, 11, 9, 0)),  # closing time → tomorrow
        # The weekend the clocks go forward: Monday 09:00 is now 07:00 UTC, not 08:00.
        (berlin(2026, 3, 27, 20, 0), datetime(2026, 3, 30, 7, 0, tzinfo=UTC)),
        # The weekend the clocks go back: Monday 09:00 is now 08:00 UTC, not 07:00.
        (berlin(2026, 10, 23, 20, 0), datetime(2026, 10, 26, 8, 0, tzinfo=UTC)),
    ],
)
def test_weekday_support_hours_open_at_nine_local_time(when: datetime, opens: datetime) -> None:
    assert WEEKDAYS.next_start(when) == opens


def test_support_hours_follow_berlin_wall_clock_across_the_spring_change() -> None:
    friday_9 = berlin(2026, 3, 27, 9, 0)
    monday_9 = berlin(2026, 3, 30, 9, 0)
    assert friday_9.hour == 8 and monday_9.hour == 7  # UTC+1 before, UTC+2 after
    assert WEEKDAYS.contains(friday_9) and WEEKDAYS.contains(monday_9)
    assert not WEEKDAYS.contains(friday_9 - timedelta(minutes=1))
    assert not WEEKDAYS.contains(monday_9 - timedelta(minutes=1))


def test_support_hours_are_read_from_the_service_settings() -> None:
    hours = SupportHours.from_json(
        {"time_zone": "Europe/Berlin", "days": ["mon", "fri"], "start": "09:00", "end": "17:30"}
    )
    assert hours == SupportHours("Europe/Berlin", (0, 4), time(9), time(17, 30))
    assert SupportHours.from_json(None) is None
    assert WEEKDAY_NAMES[hours.days[1]] == "fri"
