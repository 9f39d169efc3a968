"""Layers, restriction windows, overrides and layer versions combine into the final schedule."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from vigil.schedules import (
    Gap,
    Layer,
    LayerVersion,
    Override,
    Restriction,
    Rotation,
    Schedule,
    Shift,
    change_layer,
    final_shifts,
    gaps,
    layer_shifts,
    on_call_at,
)

BERLIN = ZoneInfo("Europe/Berlin")


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """Berlin wall-clock time as aware UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


def layer(
    level: int,
    participants: tuple[int, ...],
    rotation: Rotation,
    *,
    start: datetime | None = None,
    restrictions: tuple[Restriction, ...] = (),
) -> Layer:
    version = LayerVersion(
        start=start or at(2026, 1, 5, 9),
        participants=participants,
        rotation=rotation,
        restrictions=restrictions,
    )
    return Layer(level=level, versions=(version,))


def local_spans(shifts: list[Shift]) -> list[tuple[str, str, int]]:
    fmt = "%a %d %H:%M"
    return [
        (
            s.start.astimezone(BERLIN).strftime(fmt),
            s.end.astimezone(BERLIN).strftime(fmt),
            s.user_id,
        )
        for s in shifts
    ]


def test_restriction_crossing_midnight_puts_someone_on_call_only_at_night() -> None:
    nights = layer(
        0, (1,), Rotation.weekly(0, time(9)), restrictions=(Restriction.daily(time(22), time(6)),)
    )
    schedule = Schedule("Europe/Berlin", (nights,))
    shifts = final_shifts(schedule, since=at(2026, 1, 6, 0), until=at(2026, 1, 8, 0))
    assert local_spans(shifts) == [
        ("Tue 06 00:00", "Tue 06 06:00", 1),
        ("Tue 06 22:00", "Wed 07 06:00", 1),
        ("Wed 07 22:00", "Thu 08 00:00", 1),
    ]


def test_night_window_is_seven_hours_on_the_spring_forward_night() -> None:
    nights = layer(
        0, (1,), Rotation.daily(time(12)), restrictions=(Restriction.daily(time(22), time(6)),)
    )
    schedule = Schedule("Europe/Berlin", (nights,))
    shifts = final_shifts(schedule, since=at(2026, 3, 28, 12), until=at(2026, 3, 29, 12))
    assert [s.duration for s in shifts] == [timedelta(hours=7)]


def test_weekend_restriction_crossing_the_week_boundary() -> None:
    weekend = Restriction.weekly(4, time(18), 0, time(8))  # Friday 18:00 → Monday 08:00
    assert weekend.duration == timedelta(hours=62)
    rotation = Rotation.weekly(0, time(9))
    weekends = layer(0, (1, 2), rotation, start=at(2025, 12, 29, 9), restrictions=(weekend,))
    schedule = Schedule("Europe/Berlin", (weekends,))
    shifts = final_shifts(schedule, since=at(2026, 1, 5, 0), until=at(2026, 1, 19, 0))
    assert local_spans(shifts) == [
        ("Mon 05 00:00", "Mon 05 08:00", 1),  # the tail of the weekend before
        ("Fri 09 18:00", "Mon 12 08:00", 2),
        ("Fri 16 18:00", "Mon 19 00:00", 1),  # clipped at the end of the query
    ]


def test_higher_layer_wins_where_it_has_someone_and_lower_layer_fills_the_rest() -> None:
    business = Restriction.weekly(0, time(9), 4, time(17))
    schedule = Schedule(
        "Europe/Berlin",
        (
            layer(0, (1,), Rotation.weekly(0, time(9))),
            layer(5, (2,), Rotation.weekly(0, time(9)), restrictions=(business,)),
        ),
    )
    shifts = final_shifts(schedule, since=at(2026, 1, 5, 9), until=at(2026, 1, 12, 9))
    assert local_spans(shifts) == [
        ("Mon 05 09:00", "Fri 09 17:00", 2),
        ("Fri 09 17:00", "Mon 12 09:00", 1),
    ]


def test_override_splits_a_shift_it_partially_covers() -> None:
    override = Override(at(2026, 1, 7, 12), at(2026, 1, 8, 12), user_id=9, id=1)
    schedule = Schedule(
        "Europe/Berlin", (layer(0, (1, 2), Rotation.weekly(0, time(9))),), (override,)
    )
    shifts = final_shifts(schedule, since=at(2026, 1, 5, 9), until=at(2026, 1, 12, 9))
    assert local_spans(shifts) == [
        ("Mon 05 09:00", "Wed 07 12:00", 1),
        ("Wed 07 12:00", "Thu 08 12:00", 9),
        ("Thu 08 12:00", "Mon 12 09:00", 1),
    ]
    assert layer_shifts(schedule, level=0, since=at(2026, 1, 5, 9), until=at(2026, 1, 12, 9)) == [
        Shift(at(2026, 1, 5, 9), at(2026, 1, 12, 9), 1)
    ]


def test_override_across_a_handoff_covers_both_shifts_and_fills_gaps() -> None:
    daytime = Restriction.daily(time(9), time(17))
    override = Override(at(2026, 1, 11, 12), at(2026, 1, 12, 12), user_id=9)
    schedule = Schedule(
        "Europe/Berlin",
        (layer(0, (1, 2), Rotation.weekly(0, time(9)), restrictions=(daytime,)),),
        (override,),
    )
    shifts = final_shifts(schedule, since=at(2026, 1, 11, 9), until=at(2026, 1, 12, 17))
    assert local_spans(shifts) == [
        ("Sun 11 09:00", "Sun 11 12:00", 1),
        ("Sun 11 12:00", "Mon 12 12:00", 9),
        ("Mon 12 12:00", "Mon 12 17:00", 2),
    ]


def test_later_override_wins_where_overrides_overlap() -> None:
    base = layer(0, (1,), Rotation.weekly(0, time(9)))
    newer = Override(at(2026, 1, 6, 12), at(2026, 1, 6, 18), user_id=8, id=2)
    older = Override(at(2026, 1, 6, 10), at(2026, 1, 6, 14), user_id=7, id=1)
    schedule = Schedule("Europe/Berlin", (base,), (newer, older))
    shifts = final_shifts(schedule, since=at(2026, 1, 6, 9), until=at(2026, 1, 6, 20))
    assert local_spans(shifts) == [
        ("Tue 06 09:00", "Tue 06 10:00", 1),
        ("Tue 06 10:00", "Tue 06 12:00", 7),
        ("Tue 06 12:00", "Tue 06 18:00", 8),
        ("Tue 06 18:00", "Tue 06 20:00", 1),
    ]


def test_gaps_are_reported_where_nobody_is_on_call() -> None:
    business = Restriction.weekly(0, time(9), 4, time(17))
    schedule = Schedule(
        "Europe/Berlin", (layer(0, (1,), Rotation.weekly(0, time(9)), restrictions=(business,)),)
    )
    found = gaps(schedule, since=at(2026, 1, 5, 0), until=at(2026, 1, 12, 12))
    assert found == [
        Gap(at(2026, 1, 5, 0), at(2026, 1, 5, 9)),
        Gap(at(2026, 1, 9, 17), at(2026, 1, 12, 9)),
    ]
    assert on_call_at(schedule, at=at(2026, 1, 10, 12)) is None


def test_a_schedule_before_its_layers_start_is_all_gap() -> None:
    schedule = Schedule(
        "Europe/Berlin", (layer(0, (1,), Rotation.daily(), start=at(2026, 2, 1, 9)),)
    )
    assert final_shifts(schedule, since=at(2026, 1, 1), until=at(2026, 1, 2)) == []
    assert gaps(schedule, since=at(2026, 1, 1), until=at(2026, 1, 2)) == [
        Gap(at(2026, 1, 1), at(2026, 1, 2))
    ]


def test_changing_a_layer_mid_week_keeps_the_past_and_applies_from_the_change() -> None:
    original = layer(0, (1, 2, 3), Rotation.weekly(0, time(9)))
    before = Schedule("Europe/Berlin", (original,))
    change_at = at(2026, 1, 21, 15)  # a Wednesday, during user 3's week
    changed = change_layer(
        original,
        LayerVersion(start=change_at, participants=(4, 5), rotation=Rotation.daily(time(8))),
    )
    after = Schedule("Europe/Berlin", (changed,))
    past = (at(2026, 1, 5, 9), change_at)
    assert final_shifts(after, since=past[0], until=past[1]) == final_shifts(
        before, since=past[0], until=past[1]
    )
    shifts = final_shifts(after, since=at(2026, 1, 19, 9), until=at(2026, 1, 23, 8))
    assert local_spans(shifts) == [
        ("Mon 19 09:00", "Wed 21 15:00", 3),
        ("Wed 21 15:00", "Thu 22 08:00", 4),  # new rotation anchored at the change
        ("Thu 22 08:00", "Fri 23 08:00", 5),
    ]


def test_a_change_can_continue_the_old_rotation_by_keeping_its_anchor() -> None:
    original = layer(0, (1, 2, 3), Rotation.weekly(0, time(9)))
    change_at = at(2026, 1, 21, 15)
    changed = change_layer(
        original,
        LayerVersion(
            start=change_at,
            participants=(1, 2, 3, 4),
            rotation=Rotation.weekly(0, time(9)),
            rotation_start=original.versions[0].start,
        ),
    )
    assert changed.versions[0].end == change_at
    schedule = Schedule("Europe/Berlin", (changed,))
    shifts = final_shifts(schedule, since=at(2026, 1, 19, 9), until=at(2026, 2, 2, 9))
    assert [s.user_id for s in shifts] == [3, 4]
    assert shifts[0].end == at(2026, 1, 26, 9)


def test_a_change_supersedes_versions_planned_after_it() -> None:
    first = LayerVersion(
        start=at(2026, 1, 5, 9), end=at(2026, 2, 2, 9), participants=(1,), rotation=Rotation.daily()
    )
    planned = LayerVersion(start=at(2026, 2, 2, 9), participants=(2,), rotation=Rotation.daily())
    change = LayerVersion(start=at(2026, 1, 20, 9), participants=(3,), rotation=Rotation.daily())
    changed = change_layer(Layer(0, (first, planned)), change)
    assert [(v.participants, v.end) for v in changed.versions] == [
        ((1,), at(2026, 1, 20, 9)),
        ((3,), None),
    ]


def test_a_layer_that_ends_leaves_the_lower_layer_on_call() -> None:
    top = Layer(
        1,
        (
            LayerVersion(
                start=at(2026, 1, 5, 9),
                end=at(2026, 1, 7, 9),
                participants=(2,),
                rotation=Rotation.daily(),
            ),
        ),
    )
    schedule = Schedule("Europe/Berlin", (layer(0, (1,), Rotation.daily()), top))
    assert on_call_at(schedule, at=at(2026, 1, 6, 12)) == 2
    assert on_call_at(schedule, at=at(2026, 1, 7, 9)) == 1
