"""Which alert-opened incidents a stakeholder channel hears of one by one: the first `burst` of
each window, however the storm's commits split them; and windows every process agrees on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from vigil.incidents.comms import announced_one_by_one, announcement_window


@given(
    batches=st.lists(st.integers(min_value=0, max_value=50), max_size=30),
    burst=st.integers(min_value=0, max_value=20),
)
def test_a_window_announces_exactly_its_first_burst_however_commits_split_the_storm(
    batches: list[int], burst: int
) -> None:
    before = 0
    announced = []
    for count in batches:
        heard = announced_one_by_one(before, count, burst)
        assert 0 <= heard <= count
        announced.append(heard)
        before += count
    assert sum(announced) == min(before, burst)
    # Once a commit holds one back, no later commit of the window announces any.
    first_short = next(
        (i for i, (h, c) in enumerate(zip(announced, batches, strict=True)) if h < c), None
    )
    if first_short is not None:
        assert not any(announced[first_short + 1 :])


@given(
    moment=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    minutes=st.integers(min_value=1, max_value=1440),
)
def test_every_moment_falls_in_one_window_aligned_to_its_length(
    moment: datetime, minutes: int
) -> None:
    length = timedelta(minutes=minutes)
    start, end = announcement_window(moment, length)
    assert start <= moment < end
    assert end - start == length
    assert int(start.timestamp()) % (minutes * 60) == 0
    assert announcement_window(start, length) == (start, end)
    assert announcement_window(end, length)[0] == end


def test_ten_minute_windows_start_on_the_clock_face() -> None:
    start, end = announcement_window(
        datetime(2026, 3, 2, 9, 17, 42, tzinfo=UTC), timedelta(minutes=10)
    )
    assert (start, end) == (
        datetime(2026, 3, 2, 9, 10, tzinfo=UTC),
        datetime(2026, 3, 2, 9, 20, tzinfo=UTC),
    )
