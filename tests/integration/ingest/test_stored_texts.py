"""An alert that crossed from an HTTP process to `vigil serve`'s writer process is stored exactly
as one ingested in process: on SQLite the writer stores the JSON texts the HTTP process made
(`AlertEvent.texts`) instead of serialising the values itself."""

from __future__ import annotations

import pickle
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.conftest import T0
from vigil.alerts.events import Action, AlertEvent
from vigil.alerts.models import Alert
from vigil.incidents.comms import CommandConfig
from vigil.integrations.ingest import ingest
from vigil.notify.service import LinkConfig
from vigil.services.models import Service

CONFIG = CommandConfig(links=LinkConfig(base_url="http://vigil.test", secret="test"))


def _event(dedup_key: str, *, raw: bool = True) -> AlertEvent:
    return AlertEvent(
        action=Action.TRIGGER,
        dedup_key=dedup_key,
        integration_type="prometheus",
        summary="Disk full on db-1",
        severity="critical",
        labels={"alertname": "DiskFull", "instance": "db-1:9100", "team": "é ☃ \u2028"},
        details={"annotations": {"summary": "Disk full", "ratio": "0.95"}},
        links=[{"href": "http://prometheus:9090/graph?g0.expr=up", "text": "Source"}],
        starts_at=T0,
        ends_at=T0 + timedelta(minutes=5),
        raw={"labels": {"alertname": "DiskFull"}, "values": [1, 2.5, None]} if raw else None,
    )


def _handed_over(event: AlertEvent) -> AlertEvent:
    crossed: AlertEvent = pickle.loads(pickle.dumps(event, protocol=pickle.HIGHEST_PROTOCOL))
    assert crossed.texts is not None
    return crossed


def test_an_alert_handed_to_the_writer_process_is_stored_as_one_ingested_in_process(
    session: Session, service: Service
) -> None:
    events = [
        _event("in-process"),
        _handed_over(_event("handed-over")),
        _event("in-process-no-raw", raw=False),
        _handed_over(_event("handed-over-no-raw", raw=False)),
    ]
    ingest(session, service=service, events=events, now=T0, command=CONFIG)
    session.flush()

    columns = "labels, details, links, raw_payload"
    if session.get_bind().dialect.name == "postgresql":
        columns = "labels::text, details::text, links::text, raw_payload::text"
    stored = {
        row[0]: tuple(row[1:])
        for row in session.execute(sa.text(f"SELECT dedup_key, {columns} FROM alerts"))
    }
    assert stored["handed-over"] == stored["in-process"]
    assert stored["handed-over-no-raw"] == stored["in-process-no-raw"]

    alerts = {a.dedup_key: a for a in session.scalars(sa.select(Alert))}
    sent = _event("x")
    for key in ("in-process", "handed-over"):
        alert = alerts[key]
        assert (alert.labels, alert.details, alert.links, alert.raw_payload) == (
            sent.labels,
            sent.details,
            sent.links,
            sent.raw,
        )
    assert alerts["handed-over-no-raw"].raw_payload is None


def test_a_repeat_in_the_same_commit_stores_the_latest_texts(
    session: Session, service: Service
) -> None:
    first = _handed_over(_event("k"))
    latest = _event("k")
    latest.labels = {**latest.labels, "instance": "db-2:9100"}
    ingest(session, service=service, events=[first, _handed_over(latest)], now=T0, command=CONFIG)
    session.flush()
    [alert] = session.scalars(sa.select(Alert))
    assert alert.labels["instance"] == "db-2:9100"
    assert alert.event_count == 2


def test_a_storms_new_alerts_are_stored_as_a_lone_alert_is(
    session: Session, service: Service
) -> None:
    """A pass of many new alerts has SQLite spell their shared columns in the statement
    (`Insert.sqlite_with_tail`) instead of binding them: the stored text is the same."""
    storm = [_handed_over(_event(f"storm-{n}")) for n in range(40)]
    ingest(session, service=service, events=storm, now=T0, command=CONFIG)
    ingest(session, service=service, events=[_handed_over(_event("lone"))], now=T0, command=CONFIG)
    session.flush()
    columns = (
        "service_id, status, first_seen_at, last_seen_at, event_count, acknowledged_at,"
        " resolved_at, starts_at, expires_at, labels, details, links, raw_payload"
    )
    if session.get_bind().dialect.name == "postgresql":
        columns = ", ".join(f"{name.strip()}::text" for name in columns.split(","))
    stored = {
        row[0]: tuple(row[1:])
        for row in session.execute(sa.text(f"SELECT dedup_key, {columns} FROM alerts"))
    }
    assert len(stored) == 41
    assert {stored[f"storm-{n}"] for n in range(40)} == {stored["lone"]}
    service_id, status, first_seen, last_seen, count = map(str, stored["lone"][:5])
    assert (service_id, status, last_seen, count) == (str(service.id), "firing", first_seen, "1")
