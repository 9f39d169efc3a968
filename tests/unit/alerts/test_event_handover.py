"""Alert events cross from `vigil serve`'s HTTP processes to its ingest writer process as pickles
(`vigil.integrations.remote`): every field must arrive as it was sent."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import UTC, datetime, timedelta, timezone

import orjson

from vigil.alerts.events import Action, AlertEvent
from vigil.integrations.ingest import IngestResult


def test_an_alert_event_reaches_the_writer_process_with_every_field() -> None:
    event = AlertEvent(
        action=Action.RESOLVE,
        dedup_key="4c2e0f9d5b8a7e61",
        integration_type="alertmanager",
        summary="Disk full on db-1",
        severity="critical",
        source="db-1",
        labels={"alertname": "DiskFull", "instance": "db-1:9100"},
        details={"description": "95% used", "nested": {"free_bytes": 1024}},
        links=[{"href": "https://runbooks.example.com/disk", "text": "Runbook"}],
        group_key='{}:{alertname="DiskFull"}',
        starts_at=datetime(2026, 3, 2, 8, 58, tzinfo=UTC),
        ends_at=datetime(2026, 3, 2, 9, 4, tzinfo=UTC),
        raw={"status": "resolved"},
    )
    made_on_handover = {"texts"}  # made from the fields above as the event crosses
    every_field_set = [
        f.name
        for f in dataclasses.fields(AlertEvent)
        if getattr(event, f.name) == f.default and f.name not in made_on_handover
    ]
    assert every_field_set == []  # a new field must be set above, and handed over by __reduce__

    arrived = pickle.loads(pickle.dumps(event, protocol=pickle.HIGHEST_PROTOCOL))

    # What the writer only stores arrives as JSON text, which the drivers write as it is.
    stored_as_json = {"details", "links", "raw"}
    for field in dataclasses.fields(AlertEvent):
        if field.name in made_on_handover:
            continue
        value = getattr(arrived, field.name)
        if field.name in stored_as_json:
            assert isinstance(value, orjson.Fragment)
            value = orjson.loads(orjson.dumps(value))
        assert value == getattr(event, field.name), field.name
    assert arrived.action is Action.RESOLVE


def test_what_the_writer_stores_arrives_as_the_json_text_the_drivers_would_write() -> None:
    """The HTTP process writes the labels, details, links and raw payload as JSON text once; the
    writer stores that text on SQLite instead of serialising the values again."""
    event = AlertEvent(
        action=Action.TRIGGER,
        dedup_key="k",
        integration_type="prometheus",
        labels={"alertname": "DiskFull", "b": "é ☃ \u2028"},
        details={"annotations": {"summary": "95% used"}},
        links=[{"href": "https://runbooks.example.com/disk", "text": "Runbook"}],
        raw={"labels": {"alertname": "DiskFull"}, "n": [1, 2.5, None]},
    )
    arrived = pickle.loads(pickle.dumps(event, protocol=pickle.HIGHEST_PROTOCOL))
    assert arrived.texts == tuple(
        orjson.dumps(value).decode()
        for value in (event.labels, event.details, event.links, event.raw)
    )


def test_an_event_without_a_raw_payload_arrives_without_one() -> None:
    event = AlertEvent(action=Action.TRIGGER, dedup_key="k", integration_type="generic")
    arrived = pickle.loads(pickle.dumps(event, protocol=pickle.HIGHEST_PROTOCOL))
    assert arrived.raw is None
    assert arrived.texts is not None and arrived.texts[3] == "null"  # as orjson writes None


def test_event_times_arrive_as_the_same_moment_in_utc_to_the_microsecond() -> None:
    offset = timezone(timedelta(hours=5, minutes=30))
    event = AlertEvent(
        action=Action.TRIGGER,
        dedup_key="k",
        integration_type="prometheus",
        starts_at=datetime(2026, 3, 2, 14, 28, 7, 123456, tzinfo=offset),
        ends_at=datetime(1999, 12, 31, 23, 59, 59, 999999),  # naive: taken as UTC
    )
    arrived = pickle.loads(pickle.dumps(event, protocol=pickle.HIGHEST_PROTOCOL))
    assert arrived.starts_at == datetime(2026, 3, 2, 8, 58, 7, 123456, tzinfo=UTC)
    assert arrived.starts_at.tzinfo is UTC
    assert arrived.ends_at == datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def test_the_writers_answer_reaches_the_http_process_without_the_commits_paging_context() -> None:
    result = IngestResult(
        dedup_keys=["a", "b"],
        alerts_created=1,
        alerts_updated=2,
        alerts_resolved=3,
        incidents_opened=[7],
        incidents_resolved=[5],
        paging_started=True,
        opened=[object()],  # type: ignore[list-item]  # paging's own record: never pickled
    )
    arrived = pickle.loads(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    assert arrived == dataclasses.replace(result, opened=[])
