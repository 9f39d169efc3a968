"""The worker asks "when is the next message, the next escalation step, due?" at every wake-up.

During an alert storm the worker wakes for every commit that pages, while thousands of messages
wait to be sent: the answer must come from the end of an index, not from reading every pending
message (which once took a quarter of the worker's time in an ungrouped storm).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.conftest import T0
from vigil.engine import runner
from vigil.notify.models import MessageStatus, Notification

_WAITING = 2_000


def _message(n: int, **overrides: Any) -> dict[str, Any]:
    return {
        "idempotency_key": f"storm-{n}",
        "kind": "event",
        "channel_kind": "webhook",
        "address": "http://127.0.0.1:9/hook",
        "content": {},
        "status": MessageStatus.PENDING,
        "send_at": T0 + timedelta(seconds=10 + n),
        "attempts": 0,
        "created_at": T0,
        **overrides,
    }


def _next_message(session: Session, now: Any) -> Any:
    return session.scalar(runner._NEXT_MESSAGE, {"now": now})


def _rows_read(plan: dict[str, Any]) -> int:
    read = 0
    if plan.get("Relation Name") == "notifications":
        read += (plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)) * plan.get(
            "Actual Loops", 1
        )
    for child in plan.get("Plans", []):
        read += _rows_read(child)
    return read


def test_the_next_message_is_the_first_one_nobody_is_sending(session: Session) -> None:
    in_flight = _message(0, send_at=T0, claimed_until=T0 + timedelta(minutes=1))
    session.execute(sa.insert(Notification), [in_flight, _message(1), _message(2)])
    assert _next_message(session, T0) == T0 + timedelta(seconds=11)


def test_a_message_whose_claim_lapsed_is_due_at_once(session: Session) -> None:
    lapsed = _message(0, send_at=T0, claimed_until=T0 + timedelta(seconds=30))
    session.execute(sa.insert(Notification), [lapsed, _message(1)])
    assert _next_message(session, T0 + timedelta(seconds=31)) <= T0 + timedelta(seconds=31)


def test_finding_the_next_message_reads_the_index_not_the_queue(
    session: Session, backend: str
) -> None:
    session.execute(sa.insert(Notification), [_message(n) for n in range(_WAITING)])
    statement = runner._NEXT_MESSAGE.compile(
        dialect=session.get_bind().dialect, compile_kwargs={"render_postcompile": True}
    )
    raw = session.connection().connection.driver_connection
    if backend == "postgresql":
        session.execute(sa.text("ANALYZE notifications"))
        params = {name: T0 if name == "now" else value for name, value in statement.params.items()}
        cursor = raw.cursor()
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement.string}", params)
        (document,) = cursor.fetchone()
        plan = document if isinstance(document, list) else json.loads(document)
        assert _rows_read(plan[0]["Plan"]) <= 2
    else:
        params = [
            T0.isoformat(" ") if name == "now" else statement.params[name]
            for name in statement.positiontup or []
        ]
        steps = []  # SQLite's virtual machine instructions, by the hundred
        raw.set_progress_handler(lambda: steps.append(1) and 0, 100)
        try:
            raw.execute(statement.string, params).fetchall()
        finally:
            raw.set_progress_handler(None, 100)
        assert len(steps) < 20  # reading every waiting message takes over 200


def test_the_next_escalation_step_reads_the_index_ends(session: Session, backend: str) -> None:
    compiled = runner._NEXT_STEP.compile(dialect=session.get_bind().dialect)
    if backend == "postgresql":
        return  # one lookup per state either way; the plan is asserted on SQLite
    raw = session.connection().connection.driver_connection
    params = [compiled.params[name] for name in compiled.positiontup or []]
    plan = raw.execute(f"EXPLAIN QUERY PLAN {compiled.string}", params)
    details = " ".join(row[-1] for row in plan.fetchall())
    assert "ix_incident_escalations_due" in details, details
    assert "TEMP B-TREE" not in details, details
    assert session.scalar(runner._NEXT_STEP) is None  # nothing escalating
