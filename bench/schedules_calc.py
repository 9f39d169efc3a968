"""Benchmark: one year of final shifts for a realistic schedule (target: under 20 ms).

3 layers x 8 participants, weekly Monday 09:00 handoffs in Europe/Berlin (so the year crosses both
DST changes), a weekday business-hours restriction on the top layer and 50 overrides.

Run: .venv/bin/python bench/schedules_calc.py
"""

from __future__ import annotations

import timeit
from datetime import UTC, datetime, time, timedelta

from vigil.schedules import (
    Layer,
    LayerVersion,
    Override,
    Restriction,
    Rotation,
    Schedule,
    final_shifts,
    on_call_at,
    validate_schedule,
)

START = datetime(2026, 1, 1, tzinfo=UTC)


def build_schedule(restrictions: tuple[Restriction, ...]) -> Schedule:
    """The benchmark schedule; `restrictions` go on the top layer."""
    layers = tuple(
        Layer(
            level=level,
            versions=(
                LayerVersion(
                    start=START - timedelta(days=30),
                    participants=tuple(range(level * 10 + 1, level * 10 + 9)),
                    rotation=Rotation.weekly(0, time(9, 0)),
                    restrictions=restrictions if level == 2 else (),
                ),
            ),
        )
        for level in range(3)
    )
    overrides = tuple(
        Override(
            start=START + timedelta(days=7 * i, hours=i % 24),
            end=START + timedelta(days=7 * i + 1, hours=i % 24 + 6),
            user_id=100 + i,
            id=i,
        )
        for i in range(50)
    )
    return Schedule("Europe/Berlin", layers, overrides)


def measure(label: str, schedule: Schedule, number: int = 50) -> None:
    validate_schedule(schedule)
    until = START + timedelta(days=365)
    shifts = final_shifts(schedule, since=START, until=until)
    best = min(
        timeit.repeat(
            lambda: final_shifts(schedule, since=START, until=until), number=number, repeat=5
        )
    )
    print(f"{label}: {best / number * 1000:.2f} ms per year of final shifts ({len(shifts)} shifts)")


def main() -> None:
    weekdays = (Restriction.weekly(0, time(9, 0), 4, time(17, 0)),)
    business_days = tuple(Restriction.weekly(d, time(9, 0), d, time(17, 0)) for d in range(5))
    daily = (Restriction.daily(time(9, 0), time(17, 0)),)
    measure("weekly restriction Mon 09:00 -> Fri 17:00", build_schedule(weekdays))
    measure("Mon-Fri 09:00-17:00 (5 weekly windows)", build_schedule(business_days))
    measure("daily 09:00-17:00 restriction", build_schedule(daily))
    schedule = build_schedule(weekdays)
    at = START + timedelta(days=100, hours=3)
    number = 2000
    best = min(timeit.repeat(lambda: on_call_at(schedule, at=at), number=number, repeat=5))
    print(f"on_call_at: {best / number * 1e6:.1f} us per call")


if __name__ == "__main__":
    main()
