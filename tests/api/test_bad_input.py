"""Bad input at every inbound endpoint is refused with a JSON error naming the field, writes
nothing, and never answers 5xx (a 5xx makes senders retry a payload that can never succeed)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from tests.payloads import (
    alertmanager_message,
    am_alert,
    grafana_message,
    pagerduty_trigger,
    prometheus_alert,
)
from vigil.alerts.models import Alert
from vigil.incidents.models import Incident
from vigil.services.models import ChangeEvent, Service

MIB = 1024 * 1024

# name -> (URL for a key, a valid body for a key). PagerDuty's key travels in the body.
ENDPOINTS: dict[str, tuple[Callable[[str], str], Callable[[str], Any]]] = {
    "alertmanager": (lambda k: f"/integrations/alertmanager/{k}", lambda k: alertmanager_message()),
    "grafana": (lambda k: f"/integrations/grafana/{k}", lambda k: grafana_message()),
    "prometheus": (
        lambda k: f"/integrations/prometheus/{k}/api/v2/alerts",
        lambda k: [prometheus_alert()],
    ),
    "pagerduty": (lambda k: "/v2/enqueue", lambda k: pagerduty_trigger(k)),
    "pagerduty_change": (
        lambda k: "/v2/change/enqueue",
        lambda k: {"routing_key": k, "payload": {"summary": "Deployed v42", "source": "ci"}},
    ),
    "generic": (
        lambda k: f"/integrations/generic/{k}",
        lambda k: {"summary": "Disk full on db-1", "severity": "critical", "dedup_key": "disk"},
    ),
}
URL_KEYED = ["alertmanager", "grafana", "prometheus", "generic"]
PAGERDUTY = ["pagerduty", "pagerduty_change"]


def url(endpoint: str, key: str) -> str:
    return ENDPOINTS[endpoint][0](key)


def valid_body(endpoint: str, key: str) -> Any:
    return ENDPOINTS[endpoint][1](key)


def post_json(client: TestClient, path: str, body: Any) -> Any:
    """Post `body` serialised as it is, so non-JSON-safe values reach the server as sent."""
    content = json.dumps(body)
    return client.post(path, content=content, headers={"content-type": "application/json"})


def rows_written(session: Session) -> tuple[int, int, int]:
    """(alerts, incidents, change events) in the database."""
    return tuple(  # type: ignore[return-value]
        session.scalar(sa.select(sa.func.count()).select_from(model)) or 0
        for model in (Alert, Incident, ChangeEvent)
    )


def assert_refused(response: Any, status: int, field: str) -> dict[str, Any]:
    """The status, and a JSON body naming the field: PagerDuty's shape on /v2/, ours elsewhere."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["field"] == field, body
    if response.url.path.startswith("/v2/"):
        assert body["status"] == "invalid event"
        assert body["message"] == "Event object is invalid"
        assert body["errors"] and all(isinstance(e, str) for e in body["errors"])
    else:
        assert body["error"]
    return body


@pytest.fixture
def nothing_written(session: Session) -> Iterator[None]:
    """Fails the test if any alert, incident or change event was written during it."""
    before = rows_written(session)
    yield
    assert rows_written(session) == before


@pytest.fixture
def revoked_key(client: TestClient, auth: dict[str, str], service: Service, key: str) -> str:
    key_id = next(
        k["id"]
        for k in client.get(f"/api/v1/services/{service.id}/integration-keys", headers=auth).json()
        if k["key"] == key
    )
    response = client.delete(
        f"/api/v1/services/{service.id}/integration-keys/{key_id}", headers=auth
    )
    assert response.status_code == 200
    return key


# --- the envelope: JSON, content type, size, key ---------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_malformed_json_is_refused_with_400_naming_the_body(
    client: TestClient, key: str, endpoint: str, nothing_written: None
) -> None:
    response = client.post(
        url(endpoint, key),
        content=b'{"summary": "x",',
        headers={"content-type": "application/json"},
    )
    assert_refused(response, 400, "body")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("content_type", ["text/plain", None])
def test_a_body_that_is_not_declared_json_is_refused_with_415(
    client: TestClient, key: str, endpoint: str, content_type: str | None, nothing_written: None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    content = json.dumps(valid_body(endpoint, key)).encode()
    response = client.post(url(endpoint, key), content=content, headers=headers)
    assert_refused(response, 415, "content-type")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_body_over_one_mib_is_refused_with_413(
    client: TestClient, key: str, endpoint: str, nothing_written: None
) -> None:
    body = valid_body(endpoint, key)
    padded = json.dumps({"padding": "x" * MIB, "body": body})
    response = client.post(
        url(endpoint, key), content=padded, headers={"content-type": "application/json"}
    )
    assert_refused(response, 413, "body")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_chunked_body_over_one_mib_without_content_length_is_refused_with_413(
    client: TestClient, key: str, endpoint: str, nothing_written: None
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"padding": "'
        for _ in range(17):
            yield b"x" * 65536
        yield b'"}'

    response = client.post(
        url(endpoint, key), content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.request.headers
    assert_refused(response, 413, "body")


def test_a_body_just_under_one_mib_is_accepted(
    client: TestClient, key: str, session: Session
) -> None:
    event = {"summary": "Big details", "details": {"blob": ""}}
    event["details"]["blob"] = "x" * (MIB - len(json.dumps(event)) - 64)
    response = post_json(client, f"/integrations/generic/{key}", event)
    assert response.status_code == 202, response.text
    assert rows_written(session)[0] == 1


@pytest.mark.parametrize("endpoint", URL_KEYED)
def test_an_unknown_integration_key_in_the_url_is_refused_with_404(
    client: TestClient, endpoint: str, nothing_written: None
) -> None:
    unknown = "0" * 32
    response = post_json(client, url(endpoint, unknown), valid_body(endpoint, unknown))
    assert_refused(response, 404, "key")


@pytest.mark.parametrize("endpoint", URL_KEYED)
def test_a_revoked_integration_key_in_the_url_is_refused_with_404(
    client: TestClient, revoked_key: str, endpoint: str, nothing_written: None
) -> None:
    response = post_json(client, url(endpoint, revoked_key), valid_body(endpoint, revoked_key))
    assert_refused(response, 404, "key")


@pytest.mark.parametrize("endpoint", PAGERDUTY)
def test_an_unknown_routing_key_is_refused_with_400_naming_routing_key(
    client: TestClient, endpoint: str, nothing_written: None
) -> None:
    unknown = "0" * 32
    response = post_json(client, url(endpoint, unknown), valid_body(endpoint, unknown))
    body = assert_refused(response, 400, "routing_key")
    assert any("routing_key" in error for error in body["errors"])


@pytest.mark.parametrize("endpoint", PAGERDUTY)
def test_a_revoked_routing_key_is_refused_with_400_naming_routing_key(
    client: TestClient, revoked_key: str, endpoint: str, nothing_written: None
) -> None:
    response = post_json(client, url(endpoint, revoked_key), valid_body(endpoint, revoked_key))
    assert_refused(response, 400, "routing_key")


# --- the payload: types, required fields, lengths, timestamps, labels ------------------------


def _set(body: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A copy of `body` with the value at `path` replaced, or removed when value is DELETE."""
    body = copy.deepcopy(body)
    target = body
    for part in path[:-1]:
        target = target[part]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


DELETE = object()

# (endpoint, path into the valid body, new value or DELETE, the field the error must name)
BAD_PAYLOADS: list[tuple[str, tuple[Any, ...], Any, str]] = [
    # wrong types
    ("alertmanager", ("status",), 5, "status"),
    ("alertmanager", ("alerts", 0, "labels"), ["severity", "critical"], "alerts[0].labels"),
    ("alertmanager", ("alerts",), {"0": am_alert()}, "alerts"),
    ("alertmanager", ("alerts", 0, "status"), "burning", "alerts[0].status"),
    ("alertmanager", ("version",), 4, "version"),
    ("grafana", ("alerts", 0, "values"), {"B": "high"}, "alerts[0].values.B"),
    ("grafana", ("orgId",), "one", "orgId"),
    ("prometheus", (0, "labels"), ["alertname"], "alerts[0].labels"),
    ("prometheus", (0, "annotations"), "down", "alerts[0].annotations"),
    ("pagerduty", ("event_action",), "explode", "event_action"),
    ("pagerduty", ("payload",), "disk full", "payload"),
    ("pagerduty", ("payload", "severity"), "catastrophic", "payload.severity"),
    ("pagerduty", ("payload", "summary"), 5, "payload.summary"),
    ("pagerduty", ("links",), {"href": "x"}, "links"),
    ("pagerduty_change", ("payload",), [], "payload"),
    ("pagerduty_change", ("payload", "summary"), ["Deployed"], "payload.summary"),
    ("generic", ("action",), "explode", "action"),
    ("generic", ("summary",), 5, "summary"),
    ("generic", ("details",), "not an object", "details"),
    ("generic", ("links",), [{"text": "no href"}], "links[0].href"),
    # missing required fields
    ("alertmanager", ("alerts",), DELETE, "alerts"),
    ("alertmanager", ("alerts", 0, "labels"), DELETE, "alerts[0].labels"),
    ("prometheus", (0, "labels"), DELETE, "alerts[0].labels"),
    ("prometheus", (0, "labels"), {}, "alerts[0].labels"),
    ("pagerduty", ("payload", "summary"), DELETE, "payload.summary"),
    ("pagerduty", ("payload", "source"), DELETE, "payload.source"),
    ("pagerduty", ("payload", "severity"), DELETE, "payload.severity"),
    ("pagerduty", ("payload",), DELETE, "payload.summary"),
    ("pagerduty", ("event_action",), DELETE, "event_action"),
    ("pagerduty", ("routing_key",), DELETE, "routing_key"),
    ("pagerduty_change", ("payload",), DELETE, "payload"),
    ("pagerduty_change", ("payload", "summary"), DELETE, "payload.summary"),
    ("pagerduty_change", ("routing_key",), DELETE, "routing_key"),
    ("generic", ("summary",), DELETE, "summary"),
    ("generic", ("summary",), "   ", "summary"),
    # over-long strings
    ("pagerduty", ("payload", "summary"), "s" * 1025, "payload.summary"),
    ("pagerduty", ("dedup_key",), "d" * 256, "dedup_key"),
    ("pagerduty", ("payload", "source"), "s" * 256, "payload.source"),
    ("pagerduty_change", ("payload", "summary"), "s" * 1025, "payload.summary"),
    ("generic", ("summary",), "s" * 1025, "summary"),
    ("generic", ("dedup_key",), "d" * 256, "dedup_key"),
    ("alertmanager", ("alerts", 0, "fingerprint"), "f" * 256, "alerts[0].fingerprint"),
    # invalid timestamps
    ("alertmanager", ("alerts", 0, "startsAt"), "yesterday", "alerts[0].startsAt"),
    ("alertmanager", ("alerts", 0, "startsAt"), 1772441700, "alerts[0].startsAt"),
    ("grafana", ("alerts", 0, "endsAt"), "2026-13-40T25:00:00Z", "alerts[0].endsAt"),
    ("prometheus", (0, "endsAt"), "soon", "alerts[0].endsAt"),
    ("pagerduty", ("payload", "timestamp"), "last tuesday", "payload.timestamp"),
    ("pagerduty_change", ("payload", "timestamp"), "now-ish", "payload.timestamp"),
    ("generic", ("timestamp",), "2026-03-02 25:99", "timestamp"),
    # a time zone offset that pushes the instant outside the calendar
    ("generic", ("timestamp",), "9999-12-31T23:59:59-12:00", "timestamp"),
    (
        "pagerduty_change",
        ("payload", "timestamp"),
        "0001-01-01T00:00:00+01:00",
        "payload.timestamp",
    ),
    # label maps with values that are not strings
    ("alertmanager", ("alerts", 0, "labels", "severity"), 5, "alerts[0].labels.severity"),
    ("alertmanager", ("alerts", 0, "labels", "team"), {"name": "db"}, "alerts[0].labels.team"),
    ("alertmanager", ("commonLabels", "job"), None, "commonLabels.job"),
    ("grafana", ("alerts", 0, "labels", "team"), ["blue"], "alerts[0].labels.team"),
    ("prometheus", (0, "labels", "severity"), 5, "alerts[0].labels.severity"),
    ("prometheus", (0, "labels", "instance"), {"host": "db-1"}, "alerts[0].labels.instance"),
    ("generic", ("labels",), {"severity": 5}, "labels.severity"),
    ("generic", ("labels",), {"team": {"name": "db"}}, "labels.team"),
    ("generic", ("labels",), ["team=db"], "labels"),
    # ordering and cross-field rules
    ("prometheus", (0, "startsAt"), "2026-03-02T09:10:00Z", "alerts[0].endsAt"),
]


@pytest.mark.parametrize(
    ("endpoint", "path", "value", "field"),
    BAD_PAYLOADS,
    ids=[f"{e}:{f}:{'missing' if v is DELETE else 'bad'}" for e, _p, v, f in BAD_PAYLOADS],
)
def test_an_invalid_payload_is_refused_naming_the_field_and_writes_nothing(
    client: TestClient,
    key: str,
    endpoint: str,
    path: tuple[Any, ...],
    value: Any,
    field: str,
    nothing_written: None,
) -> None:
    body = _set(valid_body(endpoint, key), path, value)
    response = post_json(client, url(endpoint, key), body)
    assert_refused(response, 400, field)


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_generic_acknowledge_or_resolve_without_dedup_key_names_dedup_key(
    client: TestClient, key: str, action: str, nothing_written: None
) -> None:
    response = post_json(client, f"/integrations/generic/{key}", {"action": action})
    assert_refused(response, 400, "dedup_key")


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_pagerduty_acknowledge_or_resolve_without_dedup_key_names_dedup_key(
    client: TestClient, key: str, action: str, nothing_written: None
) -> None:
    response = post_json(client, "/v2/enqueue", {"routing_key": key, "event_action": action})
    body = assert_refused(response, 400, "dedup_key")
    assert any("dedup_key" in error for error in body["errors"])


def test_the_valid_bodies_used_here_are_accepted(
    client: TestClient, key: str, session: Session
) -> None:
    """Guards the tests above: each refusal comes from the one change made, not the base body."""
    for endpoint in ENDPOINTS:
        response = post_json(client, url(endpoint, key), valid_body(endpoint, key))
        assert response.status_code in (200, 202), (endpoint, response.text)
    alerts, incidents, changes = rows_written(session)
    assert alerts >= 5 and incidents >= 1 and changes == 1


# --- batches: one bad alert refuses them all -------------------------------------------------


def test_an_alertmanager_batch_with_one_invalid_alert_is_refused_whole(
    client: TestClient, key: str, nothing_written: None
) -> None:
    bad = am_alert(fingerprint="bbbb000000000002", instance="api-2")
    bad["labels"] = ["instance", "api-2"]
    message = alertmanager_message(am_alert(fingerprint="aaaa000000000001"), bad)
    response = post_json(client, f"/integrations/alertmanager/{key}", message)
    assert_refused(response, 400, "alerts[1].labels")


def test_a_prometheus_batch_with_one_invalid_alert_is_refused_whole(
    client: TestClient, key: str, nothing_written: None
) -> None:
    alerts = [prometheus_alert(instance="db-1"), prometheus_alert(instance="db-2"), {"labels": {}}]
    response = post_json(client, f"/integrations/prometheus/{key}/api/v2/alerts", alerts)
    assert_refused(response, 400, "alerts[2].labels")


def test_a_generic_batch_with_one_invalid_event_is_refused_whole(
    client: TestClient, key: str, nothing_written: None
) -> None:
    events = [
        {"summary": "Disk A", "dedup_key": "a"},
        {"summary": "Disk B", "dedup_key": "b", "labels": {"severity": 2}},
        {"summary": "Disk C", "dedup_key": "c"},
    ]
    response = post_json(client, f"/integrations/generic/{key}", events)
    body = assert_refused(response, 400, "events[1].labels.severity")
    assert [e["field"] for e in body["errors"]] == ["events[1].labels.severity"]


def test_a_grafana_batch_with_an_invalid_timestamp_in_the_second_alert_is_refused_whole(
    client: TestClient, key: str, nothing_written: None
) -> None:
    message = grafana_message()
    second = copy.deepcopy(message["alerts"][0])
    second["fingerprint"] = "ffff000000000002"
    second["startsAt"] = "not a time"
    message["alerts"].append(second)
    response = post_json(client, f"/integrations/grafana/{key}", message)
    assert_refused(response, 400, "alerts[1].startsAt")


def test_an_empty_generic_batch_is_refused(
    client: TestClient, key: str, nothing_written: None
) -> None:
    assert_refused(post_json(client, f"/integrations/generic/{key}", []), 400, "body")


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [("prometheus", {"labels": {"alertname": "x"}}), ("alertmanager", [alertmanager_message()])],
)
def test_a_body_of_the_wrong_json_kind_is_refused_naming_the_body(
    client: TestClient, key: str, endpoint: str, body: Any, nothing_written: None
) -> None:
    assert_refused(post_json(client, url(endpoint, key), body), 400, "body")


# --- values no database column can hold ------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "path", "field"),
    [
        ("generic", ("summary",), "summary"),
        ("alertmanager", ("alerts", 0, "annotations", "summary"), "alerts[0].annotations.summary"),
        ("prometheus", (0, "labels", "job"), "alerts[0].labels.job"),
        ("pagerduty", ("payload", "summary"), "payload.summary"),
        ("pagerduty_change", ("payload", "summary"), "payload.summary"),
    ],
)
def test_a_nul_character_is_refused_with_400_not_a_retryable_error(
    client: TestClient,
    key: str,
    endpoint: str,
    path: tuple[Any, ...],
    field: str,
    nothing_written: None,
) -> None:
    body = _set(valid_body(endpoint, key), path, "disk\u0000full")
    assert_refused(post_json(client, url(endpoint, key), body), 400, field)


def _hundreds_of_levels_deep() -> Any:
    deep: Any = {"leaf": 1}
    for _ in range(300):
        deep = {"a": deep}
    return deep


@pytest.mark.parametrize("endpoint", ["generic", "pagerduty", "pagerduty_change"])
def test_json_nested_hundreds_of_levels_deep_is_refused_with_400(
    client: TestClient, key: str, endpoint: str, nothing_written: None
) -> None:
    body = valid_body(endpoint, key)
    target = body if endpoint == "generic" else body["payload"]
    target["custom_details" if endpoint != "generic" else "details"] = _hundreds_of_levels_deep()
    response = post_json(client, url(endpoint, key), body)
    assert response.status_code == 400, response.text
    assert response.json()["field"].startswith("details" if endpoint == "generic" else "payload")


@pytest.mark.parametrize("endpoint", ["prometheus", "alertmanager", "grafana"])
def test_an_alert_with_an_added_field_nested_hundreds_of_levels_deep_is_refused_with_400(
    client: TestClient, key: str, endpoint: str, nothing_written: None
) -> None:
    """Each format's own fields are validated flat; a field a sender adds is stored as it came."""
    body = valid_body(endpoint, key)
    alerts = body if endpoint == "prometheus" else body["alerts"]
    alerts[0]["extra"] = _hundreds_of_levels_deep()
    response = post_json(client, url(endpoint, key), body)
    assert response.status_code == 400, response.text
    assert response.json()["field"].startswith("alerts[0].extra.a.a")


# --- no input yields a 5xx -------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for name, item in value.items():
            yield from _paths(item, (*prefix, name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


@st.composite
def mutated(draw: st.DrawFn, valid: Any) -> Any:
    """A real payload with one value replaced by random JSON (or removed): reaches deep checks."""
    path = draw(st.sampled_from(list(_paths(valid))))
    if not path:
        return draw(json_values)
    value = draw(st.just(DELETE) | json_values)
    if value is DELETE and isinstance(path[-1], int):
        value = None
    return _set(valid, path, value)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@settings(
    max_examples=50,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    deadline=None,
)
@given(data=st.data())
def test_no_body_makes_an_inbound_endpoint_answer_5xx(
    client: TestClient, key: str, endpoint: str, data: st.DataObject
) -> None:
    body = data.draw(st.one_of(json_values, mutated(valid_body(endpoint, key))))
    response = post_json(client, url(endpoint, key), body)
    assert response.status_code < 500, (body, response.text)
    if response.status_code >= 400:
        assert "field" in response.json()
