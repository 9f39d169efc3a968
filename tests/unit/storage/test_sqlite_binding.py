"""What Vigil binds on SQLite arrives as SQLAlchemy would have stored it, through sqlite3's
adapter table (a value without an adapter costs sqlite3 two raised AttributeErrors), and the
hot path's datetime text round-trips to the microsecond."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import vigil.models  # noqa: F401  # every StrEnum the tables store
from vigil.alerts.models import AlertStatus
from vigil.incidents.models import Severity
from vigil.storage.db import make_engine
from vigil.storage.driver import parse_sqlite_datetime, sqlite_datetime


def test_none_bools_and_enum_members_bind_through_registered_adapters(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'bind.db'}")
    for kind in (type(None), bool, AlertStatus, Severity):
        assert (kind, sqlite3.PrepareProtocol) in sqlite3.adapters, kind
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        row = raw.execute(
            "SELECT ?, typeof(?), ?, typeof(?), ?, typeof(?)",
            (None, None, True, False, AlertStatus.RESOLVED, Severity.SEV1),
        ).fetchone()
    engine.dispose()
    assert row == (None, "null", 1, "integer", "resolved", "text")


def test_sqlite_datetime_text_round_trips_any_aware_time_as_utc() -> None:
    moment = datetime(2026, 12, 3, 14, 5, 6, 7, tzinfo=UTC)
    assert sqlite_datetime(moment) == "2026-12-03 14:05:06.000007"
    elsewhere = moment.astimezone(timezone(timedelta(hours=-7)))
    assert sqlite_datetime(elsewhere) == "2026-12-03 14:05:06.000007"
    assert sqlite_datetime(moment.replace(tzinfo=None)) == "2026-12-03 14:05:06.000007"
    parsed = parse_sqlite_datetime("2026-12-03 14:05:06.000007")
    assert parsed == moment and parsed is not None and parsed.tzinfo is UTC
    assert parse_sqlite_datetime("2026-12-03 14:05:06+02:00") == datetime(
        2026, 12, 3, 12, 5, 6, tzinfo=UTC
    )
