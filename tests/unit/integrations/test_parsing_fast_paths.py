"""The inbound parsers' fast paths give exactly what their reference paths give: the storable
check with the raw body beside the full walk, raw timestamps parsed in a loop beside the
`Timestamp` field, and the models without Python validators beside the public models that
explain refusals."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.payloads import alertmanager_message, am_alert, grafana_message, prometheus_alert
from vigil.errors import ValidationFailed
from vigil.integrations import alertmanager, common, generic, prometheus
from vigil.integrations.common import MAX_DEPTH, ensure_storable, parse_timestamp

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# NUL, in values and in names, is what the raw-body shortcut must never miss.
texts = st.text(alphabet=st.sampled_from('ab:"\\/{}[]\x00é\u2028'), max_size=8) | st.sampled_from(
    ["", "\\u0000", "2026-03-02T08:58:00Z"]
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=12,
)


@st.composite
def nested(draw: st.DrawFn) -> Any:
    """A JSON value, sometimes buried around MAX_DEPTH levels deep inside another."""
    value = draw(json_values)
    if draw(st.booleans()):
        for _ in range(draw(st.integers(MAX_DEPTH - 3, MAX_DEPTH + 3))):
            value = {draw(texts): value} if draw(st.booleans()) else [value]
        value = draw(st.sampled_from([lambda v: v, lambda v: {"details": v, "x": [1]}]))(value)
    return value


serialisers: list[Callable[[Any], bytes]] = [
    orjson.dumps,
    lambda v: json.dumps(v).encode(),
    lambda v: json.dumps(v, ensure_ascii=False, indent=1).encode(),
]


def outcome(check: Callable[[], None]) -> tuple[str, str | None] | None:
    try:
        check()
    except ValidationFailed as exc:
        return exc.message, exc.field
    return None


@settings(max_examples=300, deadline=None)
@given(body=nested(), serialise=st.sampled_from(serialisers), prefix=st.sampled_from(["", "x"]))
def test_the_raw_body_shortcut_refuses_exactly_what_the_full_walk_refuses(
    body: Any, serialise: Callable[[Any], bytes], prefix: str
) -> None:
    raw = serialise(body)
    parsed = orjson.loads(raw)
    assert outcome(lambda: ensure_storable(parsed, prefix=prefix, raw_body=raw)) == outcome(
        lambda: ensure_storable(parsed, prefix=prefix)
    )


def _depth(value: Any) -> int:
    """How many keys or indexes down the deepest value sits."""
    children = value.values() if isinstance(value, dict) else value
    if not isinstance(value, dict | list) or not children:
        return 0
    return 1 + max(_depth(child) for child in children)


@given(body=json_values, depth=st.integers(0, 5))
def test_the_depth_check_agrees_with_the_deepest_path(body: Any, depth: int) -> None:
    assert common._nested_deeper_than(body, depth) == (_depth(body) > depth)


timestamp_like = st.text(alphabet=st.sampled_from("0123456789-:TZ+. Wz"), max_size=30)


@given(
    values=st.lists(
        timestamp_like
        | st.sampled_from(["2026-03-02T08:59:58.315+0000", "0001-01-01T00:00:00Z", ""])
        | st.none()
        | st.integers(),
        max_size=6,
    )
)
def test_remembered_timestamps_are_what_the_timestamp_field_makes_of_them(
    values: list[Any],
) -> None:
    seen: dict[str, datetime | None] = {}
    for value in values + values:
        assert outcome_of(lambda v=value: parse_timestamp(v, seen)) == outcome_of(
            lambda v=value: common._parse_timestamp(v)
        )


def outcome_of(parse: Callable[[], datetime | None]) -> tuple[str, Any]:
    try:
        return "ok", parse()
    except ValueError as exc:
        return "refused", str(exc)


# --- the models without Python validators, against the public models ------------------------


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for name, item in value.items():
            yield from _paths(item, (*prefix, name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


field_values = (
    json_values
    | st.sampled_from(
        ["2026-03-02T09:10:00Z", "2026-03-02T08:00:00+02:00", "soon", "trigger", "resolve"]
    )
    | st.sampled_from(["f" * 256, "u" * 4097, "t" * 16_385])
    | st.just({})
)


@st.composite
def mutated(draw: st.DrawFn, valid: Any) -> Any:
    """A valid payload with a few values replaced or removed: reaches every rule."""
    body = copy.deepcopy(valid)
    for _ in range(draw(st.integers(0, 3))):
        paths = list(_paths(body))[1:]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        target = body
        for part in path[:-1]:
            target = target[part]
        if isinstance(target, dict) and draw(st.booleans()):
            del target[path[-1]]
        else:
            target[path[-1]] = draw(field_values)
    return body


def _refusal(explain: Callable[[], Any], prefix: str = "") -> Any:
    try:
        return explain()
    except ValidationError as exc:
        failed = common.validation_failed(exc, prefix)
        return failed.message, failed.field, failed.extra


def _fast(validate: Callable[[], Any]) -> Any:
    try:
        return validate()
    except ValidationFailed as exc:
        return exc.message, exc.field, exc.extra


@st.composite
def prometheus_alerts(draw: st.DrawFn) -> dict[str, Any]:
    """Valid, or breaking a cross-field rule: no labels, or ending before (or as) it starts."""
    alert = prometheus_alert(
        instance=draw(st.sampled_from(["db-1", "db-2"])),
        starts_at="2026-03-02T08:58:00Z",
        ends_at=draw(
            st.sampled_from(
                ["2026-03-02T09:04:00Z", "2026-03-02T08:58:00Z", "2026-03-02T08:57:59Z", ""]
            )
        ),
    )
    if draw(st.integers(0, 4)) == 0:
        alert["labels"] = {}
    return alert


prometheus_bodies = st.lists(prometheus_alerts(), min_size=1, max_size=3).flatmap(mutated)


@settings(max_examples=200, deadline=None)
@given(body=prometheus_bodies)
def test_prometheus_alerts_are_checked_as_postable_alert_checks_them(body: list[Any]) -> None:
    expected = _refusal(
        lambda: [
            (a.labels, a.annotations, a.startsAt, a.endsAt, a.generatorURL)
            for a in prometheus._ALERTS.validate_python(body)
        ],
        "alerts",
    )
    assert expected == _fast(
        lambda: [
            (a.labels, a.annotations, starts_at, ends_at, a.generatorURL)
            for a, starts_at, ends_at in prometheus._validate(body)
        ]
    )


def _deep_value(draw: st.DrawFn) -> Any:
    """A JSON value nested up to a little past MAX_DEPTH, or barely nested."""
    value = draw(st.integers(0, 9) | json_values)
    for _ in range(draw(st.integers(MAX_DEPTH - 4, MAX_DEPTH + 1) | st.integers(0, 3))):
        value = {"a": value} if draw(st.booleans()) else [value]
    return value


def _add_fields(draw: st.DrawFn, target: Any, names: list[str]) -> None:
    """Sometimes set one of `names` on `target` (when it is an object) to a `_deep_value`."""
    if isinstance(target, dict) and draw(st.booleans()):
        target[draw(st.sampled_from(names))] = _deep_value(draw)


@st.composite
def prometheus_bodies_with_extras(draw: st.DrawFn) -> list[Any]:
    """Valid or not, each alert sometimes with a field Prometheus never sends (or one of its own
    replaced), nested around MAX_DEPTH deep, or named with a NUL."""
    body = copy.deepcopy(  # drawn values may be shared: never mutate them
        draw(prometheus_bodies | st.lists(prometheus_alerts(), min_size=1, max_size=3))
    )
    for alert in body:
        _add_fields(draw, alert, ["extra", "extra", "labels", "startsAt", "x\x00"])
    return body


@settings(max_examples=300, deadline=None)
@given(body=prometheus_bodies_with_extras(), serialise=st.sampled_from(serialisers))
def test_prometheus_refuses_what_cannot_be_stored_as_the_full_walk_does(
    body: list[Any], serialise: Callable[[Any], bytes]
) -> None:
    """The depth check walks only what validation leaves unchecked: whenever the alerts are
    valid, the refusal is the full walk's, word for word; invalid alerts are refused either way."""
    raw = serialise(body)
    parsed = orjson.loads(raw)
    valid = outcome(lambda: prometheus._validate(copy.deepcopy(parsed))) is None
    fast = outcome(
        lambda: prometheus.parse_postable_alerts(
            parsed, now=NOW, body_size=len(raw), raw_limit=16_384, raw_body=raw
        )
    )
    if valid:
        assert fast == outcome(lambda: ensure_storable(parsed, prefix="alerts"))
    else:
        assert fast is not None


def _dump_alerts(message: Any, timestamps: list[tuple[Any, Any]]) -> dict[str, Any]:
    dumped: dict[str, Any] = message.model_dump()
    for alert, (starts_at, ends_at) in zip(dumped["alerts"], timestamps, strict=True):
        alert.update(startsAt=starts_at, endsAt=ends_at)
    return dumped


webhook_bodies = st.sampled_from(
    [
        alertmanager_message(am_alert(), am_alert(instance="api-2", status="resolved")),
        grafana_message(),
        grafana_message(status="resolved"),
    ]
).flatmap(mutated)


@st.composite
def webhook_bodies_with_extras(draw: st.DrawFn) -> Any:
    """Valid or not, the notification and its alerts sometimes with fields Alertmanager and
    Grafana never send (or one of theirs replaced), nested around MAX_DEPTH deep, or named with a
    NUL."""
    body = copy.deepcopy(draw(webhook_bodies))  # drawn values may be shared: never mutate them
    _add_fields(draw, body, ["extra", "extra", "groupLabels", "x\x00"])
    if isinstance(body, dict) and isinstance(body.get("alerts"), list):
        for alert in body["alerts"]:
            _add_fields(draw, alert, ["extra", "extra", "labels", "values", "x\x00"])
    return body


@settings(max_examples=300, deadline=None)
@given(body=webhook_bodies_with_extras(), serialise=st.sampled_from(serialisers))
def test_webhooks_refuse_what_cannot_be_stored_as_the_full_walk_does(
    body: Any, serialise: Callable[[Any], bytes]
) -> None:
    raw = serialise(body)
    parsed = orjson.loads(raw)
    valid = outcome(lambda: alertmanager._validate(copy.deepcopy(parsed))) is None
    fast = outcome(
        lambda: alertmanager.parse_webhook(
            parsed,
            integration_type="alertmanager",
            body_size=len(raw),
            raw_limit=16_384,
            raw_body=raw,
        )
    )
    if valid:
        assert fast == outcome(lambda: ensure_storable(parsed))
    else:
        assert fast is not None


@settings(max_examples=200, deadline=None)
@given(body=webhook_bodies)
def test_webhook_messages_are_checked_as_webhook_message_checks_them(body: Any) -> None:
    def explain() -> dict[str, Any]:
        message = alertmanager.WebhookMessage.model_validate(body)
        return _dump_alerts(message, [(a.startsAt, a.endsAt) for a in message.alerts])

    assert _refusal(explain) == _fast(lambda: _dump_alerts(*alertmanager._validate(body)))


generic_events = st.fixed_dictionaries(
    {"summary": st.sampled_from(["Disk full", "", " "])},
    optional={
        "action": st.sampled_from(["trigger", "acknowledge", "resolve"]),
        "dedup_key": st.sampled_from(["disk", ""]),
        "timestamp": st.sampled_from(["2026-03-02T08:58:00Z", "0001-01-01T00:00:00Z", "x"]),
        "labels": st.just({"team": "storage"}),
        "links": st.just([{"href": "https://runbooks.example.com", "text": "Runbook"}]),
    },
)


@pytest.mark.parametrize("is_batch", [False, True])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_generic_events_are_checked_as_generic_event_checks_them(
    is_batch: bool, data: st.DataObject
) -> None:
    valid = data.draw(
        st.lists(generic_events, min_size=1, max_size=3) if is_batch else generic_events
    )
    body = data.draw(mutated(valid))
    if isinstance(body, list) != is_batch:
        return

    def explain() -> list[dict[str, Any]]:
        events = (
            generic._EVENTS.validate_python(body)
            if is_batch
            else [generic.GenericEvent.model_validate(body)]
        )
        return [event.model_dump() for event in events]

    assert _refusal(explain, "events" if is_batch else "") == _fast(
        lambda: [
            {**event.model_dump(), "timestamp": timestamp}
            for event, timestamp in generic._validate(body, is_batch=is_batch)
        ]
    )


# --- dedup keys stay what they were: open alerts in existing databases depend on them --------


def test_dedup_keys_of_parsed_alerts_are_unchanged() -> None:
    [from_prometheus] = prometheus.parse_postable_alerts(
        [prometheus_alert()], now=NOW, body_size=300, raw_limit=1000
    )
    [from_alertmanager] = alertmanager.parse_webhook(
        alertmanager_message(am_alert(fingerprint=None)),
        integration_type="alertmanager",
        body_size=300,
        raw_limit=1000,
    )
    [derived] = generic.parse_generic(
        {"summary": "Disk full on db-1", "source": "db-1", "labels": {"team": "storage"}},
        body_size=100,
        raw_limit=1000,
    )
    assert from_prometheus.dedup_key == "84689760913f4f88"
    assert from_alertmanager.dedup_key == "8e1e9ed8ce6ca6fb"
    assert derived.dedup_key == "6e71ee414f32d8d1f3059211dda52b97"
