"""Prometheus straight to Vigil: the Alertmanager API v2 `POST /api/v2/alerts` body and semantics.

Identity is the label set; a firing alert carries an `endsAt` a few evaluation intervals ahead and
is re-sent while it fires, so one that is not refreshed before `endsAt` resolves by itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import Field, TypeAdapter, ValidationError, ValidationInfo, field_validator

from vigil.alerts.events import Action, AlertEvent
from vigil.alerts.keys import label_fingerprint
from vigil.alerts.raw import compact_raw
from vigil.errors import ValidationFailed
from vigil.integrations.common import (
    Labels,
    Strict,
    Text,
    Timestamp,
    cap_raw,
    ensure_extra_fields_storable,
    ensure_storable,
    may_hold_nul,
    parse_timestamp,
    truncate,
    validation_failed,
)

# Alertmanager's default resolve_timeout: how long an alert without endsAt stays firing.
RESOLVE_TIMEOUT = timedelta(minutes=5)


class _Fields(Strict):
    """PostableAlert with its timestamps left raw and without its cross-field rules: `_validate`
    parses and checks them in one loop over the batch, which costs far less than pydantic calling
    four Python validators per alert."""

    labels: Labels
    annotations: dict[str, Text] = Field(default_factory=dict, max_length=200)
    startsAt: Any = None
    endsAt: Any = None
    generatorURL: str = Field(default="", max_length=4096)


class PostableAlert(_Fields):
    """One alert of the body; validated only to explain a refusal, so that it names the field."""

    startsAt: Timestamp = None
    endsAt: Timestamp = None

    @field_validator("labels")
    @classmethod
    def _labels_not_empty(cls, labels: dict[str, str]) -> dict[str, str]:
        if not labels:
            raise ValueError("must not be empty: the label set is the alert's identity")
        return labels

    @field_validator("endsAt")
    @classmethod
    def _ends_after_start(cls, ends_at: datetime | None, info: ValidationInfo) -> datetime | None:
        starts_at = info.data.get("startsAt")
        if starts_at and ends_at and starts_at > ends_at:
            raise ValueError("must not be before startsAt")
        return ends_at


_FAST = TypeAdapter(list[_Fields])
_ALERTS = TypeAdapter(list[PostableAlert])
_Checked = tuple[_Fields, datetime | None, datetime | None]  # an alert, its startsAt and endsAt


def parse_postable_alerts(
    body: Any, *, now: datetime, body_size: int, raw_limit: int, raw_body: bytes | None = None
) -> list[AlertEvent]:
    """Every alert of the body, in order; `raw_body` is the JSON text it was parsed from."""
    if not isinstance(body, list):
        raise ValidationFailed("body: must be a JSON array of alerts", field="body")
    if may_hold_nul(raw_body):
        ensure_storable(body, prefix="alerts", raw_body=raw_body)
        alerts = _validate(body)
    else:  # no NUL anywhere: only the depth of what `_validate` leaves unchecked is in doubt
        alerts = _validate(body)
        _ensure_extras_storable(body)
    per_alert_size = body_size // max(len(alerts), 1)
    resolve_at = now + RESOLVE_TIMEOUT
    events = []
    for (alert, starts_at, sent_ends_at), raw in zip(alerts, body, strict=True):
        labels = alert.labels
        annotations = alert.annotations
        ends_at = sent_ends_at or resolve_at
        summary = (
            annotations.get("summary")
            or annotations.get("description")
            or labels.get("alertname")
            or "Alert"
        )
        event = AlertEvent(
            action=Action.RESOLVE if ends_at <= now else Action.TRIGGER,
            dedup_key=label_fingerprint(labels),
            integration_type="prometheus",
            summary=truncate(summary),
            severity=labels.get("severity") or labels.get("priority"),
            source=truncate(labels.get("instance") or labels.get("job", ""), 255),
            labels=labels,
            details={"annotations": annotations},
            links=[{"href": alert.generatorURL, "text": "Source"}] if alert.generatorURL else [],
            starts_at=starts_at,
            ends_at=ends_at,
            raw=cap_raw(raw, size_estimate=per_alert_size, limit=raw_limit),
        )
        event.raw = compact_raw(event.raw, event)
        events.append(event)
    return events


# What `_validate` vouches for: labels and annotations are maps of strings, the rest are strings.
# Whatever else a sender adds goes into the raw payload as it came, and may nest.
_CHECKED_FIELDS = frozenset(_Fields.model_fields)


def _ensure_extras_storable(body: list[dict[str, Any]]) -> None:
    """`ensure_storable`'s depth check for a validated body: only fields beyond PostableAlert's
    can nest, and Prometheus sends none (a walk of every alert was a seventh of the HTTP
    process's parse). The last alert first, as the full walk meets them."""
    for index in reversed(range(len(body))):
        ensure_extra_fields_storable(body[index], _CHECKED_FIELDS, loc=(index,), prefix="alerts")


def _validate(body: list[Any]) -> list[_Checked]:
    """The alerts, checked as PostableAlert would; a refusal comes from PostableAlert itself, so
    it names the same fields in the same order."""
    seen: dict[str, datetime | None] = {}
    checked = []
    try:
        for alert in _FAST.validate_python(body):
            starts_at = parse_timestamp(alert.startsAt, seen)
            ends_at = parse_timestamp(alert.endsAt, seen)
            if not alert.labels or (starts_at and ends_at and starts_at > ends_at):
                break
            checked.append((alert, starts_at, ends_at))
        else:
            return checked
    except ValueError:  # pydantic's ValidationError is one too
        pass
    try:
        return [(alert, alert.startsAt, alert.endsAt) for alert in _ALERTS.validate_python(body)]
    except ValidationError as exc:
        raise validation_failed(exc, prefix="alerts") from exc
