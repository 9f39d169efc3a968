"""Every few seconds the engine looks for incidents someone has in hand: acknowledged past
their service's ack timeout, and SEV1/SEV2 whose stakeholder update is overdue. On SQLite it
looks while holding the write lock, so inbound alerts wait for it: the look must read the index
of incidents in hand, not every incident an alert storm ever opened (once 15–35 ms every five
seconds after a few hundred thousand)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from tests.conftest import T0
from vigil.incidents.comms import CommandConfig, remind_overdue_updates
from vigil.incidents.models import Incident, IncidentStatus
from vigil.incidents.paging import ack_timeouts
from vigil.notify.service import LinkConfig

_STORM = 2_000  # incidents nobody has in hand: new ones and resolved ones


def _incident(n: int, status: str, **values: Any) -> dict[str, Any]:
    return {
        "title": f"Disk full on db-{n}",
        "service_id": None,
        "severity": "SEV1" if n % 2 else "SEV2",
        "urgency": "high",
        "status": status,
        "created_at": T0,
        "updated_at": T0,
        **values,
    }


def _statements_on_incidents(session: Session, run: Callable[[], Any]) -> list[tuple[str, Any]]:
    """The SELECTs on incidents that `run` sends, with their parameters."""
    seen: list[tuple[str, Any]] = []
    bind = session.connection()

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM incidents" in statement:
            seen.append((statement, parameters))

    event.listen(bind, "before_cursor_execute", capture)
    try:
        run()
    finally:
        event.remove(bind, "before_cursor_execute", capture)
    return seen


def _incident_rows_read(plan: dict[str, Any]) -> int:
    """Rows of incidents a PostgreSQL plan read (returned or filtered out), over all loops."""
    read = 0
    if plan.get("Relation Name") == "incidents":
        loops = plan.get("Actual Loops", 1)
        read += (plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)) * loops
    for child in plan.get("Plans", []):
        read += _incident_rows_read(child)
    return read


def _assert_reads_only_incidents_in_hand(
    session: Session, backend: str, statements: list[tuple[str, Any]]
) -> None:
    assert statements
    raw = session.connection().connection.driver_connection
    for statement, parameters in statements:
        if backend == "postgresql":
            session.execute(sa.text("ANALYZE incidents"))
            cursor = raw.cursor()
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters)
            (document,) = cursor.fetchone()
            plan = document if isinstance(document, list) else json.loads(document)
            assert _incident_rows_read(plan[0]["Plan"]) <= 10, statement
        else:
            rows = raw.execute(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall()
            details = " / ".join(row[-1] for row in rows)
            assert "ix_incidents_in_hand" in details, details
            assert "SCAN incidents" not in details.replace("SCAN incidents USING", ""), details


def _after_a_storm(session: Session) -> None:
    rows = [
        _incident(n, IncidentStatus.TRIGGERED if n % 3 else IncidentStatus.RESOLVED)
        for n in range(_STORM)
    ]
    rows.append(_incident(_STORM, IncidentStatus.ACKNOWLEDGED, acknowledged_at=T0))
    rows.append(_incident(_STORM + 1, IncidentStatus.INVESTIGATING))
    session.execute(sa.insert(Incident), rows)


def test_looking_for_ack_timeouts_reads_only_incidents_in_hand(
    session: Session, backend: str
) -> None:
    _after_a_storm(session)
    now = T0 + timedelta(hours=1)
    statements = _statements_on_incidents(session, lambda: ack_timeouts(session, now=now))
    _assert_reads_only_incidents_in_hand(session, backend, statements)


def test_looking_for_overdue_updates_reads_only_incidents_in_hand(
    session: Session, backend: str
) -> None:
    _after_a_storm(session)
    config = CommandConfig(links=LinkConfig(base_url="http://vigil.test", secret="test"))
    now = T0 + timedelta(minutes=5)  # nothing overdue yet: only the look itself runs
    statements = _statements_on_incidents(
        session, lambda: remind_overdue_updates(session, now=now, config=config)
    )
    _assert_reads_only_incidents_in_hand(session, backend, statements)
