"""An alert's raw payload is stored without what its columns already hold, and reads back equal,
value for value, to what its sender posted (`vigil.alerts.raw`)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from tests.payloads import alertmanager_message, am_alert, grafana_message, prometheus_alert
from vigil.alerts.events import AlertEvent
from vigil.alerts.raw import compact_raw, restore_raw
from vigil.integrations.alertmanager import parse_webhook
from vigil.integrations.prometheus import parse_postable_alerts

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LIMIT = 16_384

words = st.sampled_from(["", "a", "Source", "http://x/1", "$", "[]", "é ☃"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | words,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(words, children, max_size=3),
    max_leaves=8,
)
string_maps = st.dictionaries(st.sampled_from(["alertname", "job", "x", "é"]), words, max_size=3)
# Fields a sender may add that no parser reads, named as freely as JSON allows.
names = ["extra", "$derived", "0", "labels_"]
extras = st.dictionaries(st.sampled_from(names), json_values, max_size=2)
# Prometheus reads neither of these; Grafana validates them as a URL and a map of numbers.
prometheus_extras = st.dictionaries(
    st.sampled_from([*names, "imageURL", "values"]), json_values, max_size=2
)


def _prometheus(body: list[dict[str, Any]]) -> list[AlertEvent]:
    return parse_postable_alerts(
        copy.deepcopy(body), now=NOW, body_size=len(orjson.dumps(body)), raw_limit=LIMIT
    )


def _webhook(body: dict[str, Any], integration_type: str) -> list[AlertEvent]:
    return parse_webhook(
        copy.deepcopy(body),
        integration_type=integration_type,
        body_size=len(orjson.dumps(body)),
        raw_limit=LIMIT,
    )


def _read_back(event: AlertEvent) -> Any:
    """What the API shows: the stored JSON text, read back and restored beside the columns."""
    stored = orjson.loads(orjson.dumps(event.raw))
    return restore_raw(stored, event)


@st.composite
def prometheus_alerts(draw: st.DrawFn) -> dict[str, Any]:
    alert: dict[str, Any] = {"labels": draw(string_maps.filter(bool))}
    if draw(st.booleans()):
        alert["annotations"] = draw(string_maps)
    if draw(st.booleans()):
        alert["startsAt"] = "2026-03-02T08:55:00Z"
    if draw(st.booleans()):
        alert["endsAt"] = draw(st.sampled_from(["2026-03-02T09:55:00Z", "2026-03-02T08:57:00Z"]))
    if draw(st.booleans()):
        alert["generatorURL"] = draw(words)
    more = draw(prometheus_extras)
    return {**more, **alert} if draw(st.booleans()) else {**alert, **more}


@st.composite
def webhook_alerts(draw: st.DrawFn) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "status": draw(st.sampled_from(["firing", "resolved"])),
        "labels": {"alertname": "A", **draw(string_maps)},
    }
    for name in ("annotations",):
        if draw(st.booleans()):
            alert[name] = draw(string_maps)
    for name in (
        "generatorURL",
        "silenceURL",
        "dashboardURL",
        "panelURL",
        "imageURL",
        "valueString",
    ):
        if draw(st.booleans()):
            alert[name] = draw(words)
    if draw(st.booleans()):
        alert["fingerprint"] = draw(st.none() | st.sampled_from(["", "4c2e0f9d5b8a7e61"]))
    if draw(st.booleans()):
        alert["values"] = draw(st.none() | st.dictionaries(words, st.integers(0, 3), max_size=2))
    return {**alert, **draw(extras)}


@given(st.lists(prometheus_alerts(), min_size=1, max_size=3))
def test_a_prometheus_alert_reads_back_as_posted(body: list[dict[str, Any]]) -> None:
    for sent, event in zip(body, _prometheus(body), strict=True):
        assert _read_back(event) == sent


@given(
    st.lists(webhook_alerts(), min_size=1, max_size=3), st.sampled_from(["alertmanager", "grafana"])
)
def test_an_alertmanager_or_grafana_alert_reads_back_as_posted(
    alerts: list[dict[str, Any]], integration_type: str
) -> None:
    body = alertmanager_message(*alerts)
    for sent, event in zip(alerts, _webhook(body, integration_type), strict=True):
        restored = _read_back(event)
        assert restored == sent
        # Equal as JSON too: a number sent as 1 does not come back as 1.0.
        assert orjson.dumps(restored, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
            sent, option=orjson.OPT_SORT_KEYS
        )


def test_a_usual_prometheus_alert_is_stored_without_its_labels_annotations_and_link() -> None:
    sent = prometheus_alert(instance="db-7:9100")
    [event] = _prometheus([sent])
    stored = orjson.dumps(event.raw)
    assert b"db-7:9100" not in stored
    assert b"annotations" not in stored and b"generatorURL" not in stored
    assert len(stored) < len(orjson.dumps(sent)) / 3
    assert _read_back(event) == sent


def test_the_sample_alertmanager_and_grafana_alerts_read_back_as_posted() -> None:
    for body, integration_type in (
        (alertmanager_message(am_alert(), am_alert("Other", fingerprint=None)), "alertmanager"),
        (grafana_message(), "grafana"),
    ):
        events = _webhook(body, integration_type)
        for sent, event in zip(body["alerts"], events, strict=True):
            assert b'"labels"' not in orjson.dumps(event.raw)
            assert _read_back(event) == sent


def test_a_payload_stored_whole_reads_back_unchanged() -> None:
    """Rows stored before compaction, other formats and truncation notes hold an object."""
    [event] = _prometheus([prometheus_alert()])
    for stored in ({"labels": {"a": "b"}}, {"_truncated": True, "_approximate_size": 90_000}):
        assert restore_raw(stored, event) == stored
    assert restore_raw(None, event) is None


def test_formats_without_derived_fields_are_stored_as_they_came() -> None:
    [event] = _prometheus([prometheus_alert()])
    event.integration_type = "pagerduty"
    payload = {"payload": {"summary": "x"}, "labels": event.labels}
    assert compact_raw(payload, event) is payload
