"""An alert storm on a service newer than PostgreSQL's statistics reads only the keys it sends.

PostgreSQL plans from statistics that autovacuum refreshes now and then. Between two refreshes a
new service looks empty to the planner, and `service_id = :id AND dedup_key = ANY(:keys)` on the
index (service_id, dedup_key, …) was planned as "every row of the service, filtered by key": each
commit of a storm read all the alerts the storm had opened so far, and ingest slowed as it went.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.conftest import T0
from vigil.alerts.models import Alert
from vigil.incidents.models import Incident
from vigil.integrations import ingest
from vigil.storage.driver import Driver, Insert, Sql

_ALERTS = Insert(Alert.__table__)
_INCIDENTS = Insert(Incident.__table__)
_STORM = 2_000
_ASKED = 16


def _open_alerts(driver: Driver, service_id: int, prefix: str, count: int) -> list[str]:
    keys = [f"{prefix}-{n:06d}" for n in range(count)]
    driver.insert(
        _ALERTS,
        [
            {
                "service_id": service_id,
                "dedup_key": key,
                "status": "firing",
                "summary": "Disk full",
                "severity": "SEV2",
                "source": "bench",
                "integration_type": "generic",
                "labels": {},
                "details": {},
                "links": [],
                "starts_at": T0,
                "first_seen_at": T0,
                "last_seen_at": T0,
                "event_count": 1,
                "id": alert_id,
            }
            for key, alert_id in zip(keys, driver.next_ids("alerts", count), strict=True)
        ],
    )
    return keys


def _rows_read(plan: dict[str, Any], table: str = "alerts") -> int:
    """Rows every scan of `table` in the plan produced or filtered away."""
    read = 0
    if plan.get("Relation Name") == table:
        loops = plan.get("Actual Loops", 1)
        read += (plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)) * loops
    for child in plan.get("Plans", []):
        read += _rows_read(child, table)
    return read


def _explain(session: Session, sql: Sql, params: list[Any]) -> dict[str, Any]:
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql.postgres, params)
        (document,) = cursor.fetchone()
    plan = document if isinstance(document, list) else json.loads(document)
    return plan[0]["Plan"]


def _explain_known(session: Session, **asked: Any) -> dict[str, Any]:
    """The plan of `_SELECT_KNOWN` asking only about `asked` (the other lists empty)."""
    statement = ingest._SELECT_KNOWN
    keys = asked.pop("keys", [])
    flags = ingest.postgres_key_flags(
        keys, new_keys=set(asked.pop("new_keys", [])), draw_keys=set()
    )
    values = {
        "service_id": asked.pop("service_id"),
        "group_keys": [],
        "window_start": T0 - timedelta(hours=1),
        "draw_incidents": False,
        **flags,
        **asked,
    }
    params = [
        json.dumps(values[name]) if name in statement.json else values[name]
        for name in statement.postgres_names
    ]
    return _explain(session, statement, params)


@pytest.mark.parametrize("status", ["firing", "resolved"])
def test_a_storm_on_a_new_service_reads_only_the_alerts_it_names(
    session: Session, backend: str, make_service: Any, status: str
) -> None:
    if backend != "postgresql":
        pytest.skip("a PostgreSQL planner question")
    driver = Driver(session)
    old = make_service(name="old")
    _open_alerts(driver, old.id, "old", _STORM)
    session.execute(sa.text("ANALYZE alerts"))  # statistics know only the old service
    new = make_service(name="new")
    keys = _open_alerts(driver, new.id, "new", _STORM)
    if status == "resolved":
        session.execute(
            sa.text("UPDATE alerts SET status = 'resolved' WHERE service_id = :id"),
            {"id": new.id},
        )
    asked = keys[:: _STORM // _ASKED][:_ASKED]
    # Every key is one of the pass's keys; resolved alerts are read for keys about to fire.
    lists = {"keys": asked} if status == "firing" else {"keys": asked, "new_keys": asked}

    plan = _explain_known(session, service_id=new.id, **lists)

    assert _rows_read(plan) == _ASKED


def test_ids_are_drawn_only_for_keys_that_are_not_firing(
    session: Session, backend: str, make_service: Any
) -> None:
    """A repeat draws no id: a storm of repeats must not use up the alerts' id sequence."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL draws ids in the lookup; SQLite takes the next rowids")
    driver = Driver(session)
    service = make_service(name="ids")
    firing = _open_alerts(driver, service.id, "ids", 3)
    keys = [*firing, "new-1", "new-2"]
    values = {
        "service_id": service.id,
        **ingest.postgres_key_flags(keys, new_keys=set(), draw_keys=set(keys)),
        "group_keys": [],
        "window_start": T0,
        "draw_incidents": True,
    }

    rows = driver.rows(ingest._SELECT_KNOWN, **values)

    drawn = [row for row in rows if row[0] == "i"]
    assert len(drawn) == 2
    assert all(row[1] is not None and row[10] is not None for row in drawn)
    assert sorted(row[2] for row in rows if row[0] == "f") == sorted(firing)


def _open_incidents(driver: Driver, service_id: int, prefix: str, count: int) -> list[str]:
    groups = [f"labels:{{instance={prefix}-{n:06d}}}" for n in range(count)]
    ids = driver.next_ids("incidents", count)
    driver.insert(
        _INCIDENTS,
        [
            {
                "id": incident_id,
                "title": "Disk full",
                "service_id": service_id,
                "severity": "SEV2",
                "urgency": "high",
                "status": "triggered",
                "group_key": group,
                "created_at": T0,
                "updated_at": T0,
            }
            for group, incident_id in zip(groups, ids, strict=True)
        ],
    )
    return groups


def test_a_storm_on_a_new_service_finds_open_groups_without_reading_the_others(
    session: Session, backend: str, make_service: Any
) -> None:
    """A service grouping by a label with many values (or not grouping) has as many open
    incidents as alerts in a storm; finding the groups of a commit must read only those."""
    if backend != "postgresql":
        pytest.skip("a PostgreSQL planner question")
    driver = Driver(session)
    old = make_service(name="old")
    _open_incidents(driver, old.id, "old", _STORM)
    session.execute(sa.text("ANALYZE incidents"))  # statistics know only the old service
    new = make_service(name="new")
    groups = _open_incidents(driver, new.id, "new", _STORM)
    asked = groups[:: _STORM // _ASKED][:_ASKED]

    plan = _explain_known(session, service_id=new.id, group_keys=asked)

    assert _rows_read(plan, "incidents") == _ASKED


def test_resolving_a_storm_asks_for_firing_alerts_without_reading_the_resolved_ones(
    session: Session, backend: str, make_service: Any
) -> None:
    """Auto-resolve asks "has this incident an alert still firing?" at each resolving commit; as a
    storm resolved in batches, reading past the resolved alerts made that N²/2 rows."""
    driver = Driver(session)
    service = make_service(name="storm")
    _open_alerts(driver, service.id, "storm", _STORM)
    (incident_id,) = driver.next_ids("incidents", 1)
    driver.insert(
        _INCIDENTS,
        [
            {
                "id": incident_id,
                "title": "storm",
                "service_id": service.id,
                "severity": "SEV2",
                "urgency": "high",
                "status": "triggered",
                "created_at": T0,
                "updated_at": T0,
            }
        ],
    )
    session.execute(
        sa.text("UPDATE alerts SET incident_id = :i, status = 'resolved' WHERE service_id = :s"),
        {"i": incident_id, "s": service.id},
    )
    values = {"ids": [incident_id], "now": T0}
    statement = ingest._RESOLVE_WITHOUT_FIRING
    if backend == "postgresql":
        plan = _explain(session, statement, [values[n] for n in statement.postgres_names])
        assert _rows_read(plan) == 0
    else:
        raw = session.connection().connection.driver_connection
        params = [json.dumps(values[n]) if n == "ids" else str(values[n]) for n in statement.names]
        plan = raw.execute("EXPLAIN QUERY PLAN " + statement.sqlite, params).fetchall()
        assert any("(incident_id=? AND open_marker=?)" in row[-1] for row in plan), plan
