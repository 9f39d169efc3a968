"""Who is on call now for 1,000 schedules read from the database (target: under 200 ms), on SQLite
and PostgreSQL. Each schedule has 3 layers × 8 participants, a weekly rotation, a weekday
restriction on one layer and a few overrides; one year of final shifts of such a schedule is
measured by bench/schedules_calc.py.

    .venv/bin/python bench/schedules.py [--database sqlite|postgresql|both] [--schedules 1000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from vigil.accounts import service as accounts
from vigil.accounts.schemas import UserCreate
from vigil.schedules import oncall
from vigil.schedules import service as schedules
from vigil.schedules.schemas import LayerCreate, OverrideCreate, Restriction, ScheduleCreate
from vigil.storage import migrate
from vigil.storage.db import Database

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def seed(db: Database, count: int) -> None:
    with db.unit_of_work() as session:
        users = [
            accounts.create_user(
                session,
                data=UserCreate(name=f"User {i}", email=f"u{i}@example.com"),
                now=NOW,
            ).id
            for i in range(24)
        ]
        weekdays = Restriction(
            type="weekly", start_day="mon", start_time="09:00", end_day="fri", end_time="17:00"
        )
        for n in range(count):
            layers = [
                LayerCreate(
                    name=f"layer {level}",
                    start=datetime(2026, 1, 5, 9, 0),
                    participants=users[level * 8 : level * 8 + 8],
                    rotation="weekly",
                    handoff_time="09:00",
                    handoff_day="mon",
                    restrictions=[weekdays] if level == 2 else [],
                )
                for level in range(3)
            ]
            schedule = schedules.create_schedule(
                session,
                data=ScheduleCreate(name=f"schedule {n}", time_zone="Europe/Berlin", layers=layers),
                actor_id=None,
                now=NOW,
            )
            for k in range(3):
                start = NOW + timedelta(days=k * 3 - 3)
                schedules.create_override(
                    session,
                    schedule_id=schedule.id,
                    data=OverrideCreate(
                        user_id=users[(n + k) % 24], start=start, end=start + timedelta(hours=12)
                    ),
                    actor=schedules.Actor(id=users[0], role="admin"),
                    now=NOW,
                )


def measure(db: Database, runs: int = 7) -> list[float]:
    times = []
    for _ in range(runs):
        with db.read_session() as session:
            started = time.perf_counter()
            entries = oncall.on_call_at(session, at=NOW)
            times.append((time.perf_counter() - started) * 1000)
        assert entries and all(e.user_id is not None for e in entries)
    return times


def run(kind: str, count: int) -> None:
    if kind == "sqlite":
        url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
        cleanup = None
    else:
        name = f"vigil_bench_sched_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"

        def cleanup() -> None:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    try:
        migrate.upgrade(url)
        db = Database.from_url(url)
        started = time.perf_counter()
        seed(db, count)
        print(f"{kind}: seeded {count} schedules in {time.perf_counter() - started:.1f} s")
        times = measure(db)
        cold, warm = times[0], times[1:]
        print(
            f"{kind}: who is on call now for {count} schedules: first request (cold cache) "
            f"{cold:.0f} ms; then median {statistics.median(warm):.0f} ms, "
            f"worst {max(warm):.0f} ms (target < 200 ms)"
        )
        db.dispose()
    finally:
        if cleanup:
            cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--schedules", type=int, default=1000)
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    for kind in kinds:
        run(kind, args.schedules)


if __name__ == "__main__":
    main()
