"""Alertmanager webhook (payload version 4) and Grafana's webhook contact point, its extension."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, ValidationError

from vigil.alerts.events import Action, AlertEvent
from vigil.alerts.keys import label_fingerprint
from vigil.alerts.raw import compact_raw
from vigil.integrations.common import (
    DEDUP_KEY_LIMIT,
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

Url = Field(default="", max_length=4096)


class _AlertFields(Strict):
    """WebhookAlert with its timestamps left raw, for `_validate` to parse in one loop over the
    batch (cheaper than two Python validators per alert)."""

    status: Literal["firing", "resolved"]
    labels: Labels
    annotations: dict[str, Text] = Field(default_factory=dict, max_length=200)
    startsAt: Any = None
    endsAt: Any = None
    generatorURL: str = Url
    fingerprint: str | None = Field(default=None, max_length=DEDUP_KEY_LIMIT)
    # Grafana's additions
    dashboardURL: str = Url
    panelURL: str = Url
    silenceURL: str = Url
    imageURL: str = Url
    valueString: str = Field(default="", max_length=16_384)
    values: dict[str, float | None] | None = None


class WebhookAlert(_AlertFields):
    """One alert of a notification; validated only to explain a refusal, naming the field."""

    startsAt: Timestamp = None
    endsAt: Timestamp = None


class _MessageFields(Strict):
    """WebhookMessage with its alerts' timestamps left raw."""

    version: str = Field(max_length=16)
    groupKey: str = Field(default="", max_length=8192)
    status: Literal["firing", "resolved"] = "firing"
    receiver: str = Field(default="", max_length=1024)
    groupLabels: Labels = Field(default_factory=dict)
    commonLabels: Labels = Field(default_factory=dict)
    commonAnnotations: dict[str, Text] = Field(default_factory=dict)
    externalURL: str = Url
    truncatedAlerts: int = 0
    alerts: list[_AlertFields] = Field(max_length=10_000)
    # Grafana's additions
    orgId: int | None = None
    state: str | None = None
    title: str = Field(default="", max_length=16_384)


class WebhookMessage(_MessageFields):
    """One notification; validated only to explain a refusal, naming the field."""

    # Safe though lists are invariant: the model only ever reads its alerts.
    alerts: list[WebhookAlert] = Field(max_length=10_000)  # type: ignore[assignment]


def parse_webhook(
    body: Any,
    *,
    integration_type: str,
    body_size: int,
    raw_limit: int,
    raw_body: bytes | None = None,
) -> list[AlertEvent]:
    """Every alert of one Alertmanager or Grafana notification, in order, as AlertEvents;
    `raw_body` is the JSON text `body` was parsed from."""
    if may_hold_nul(raw_body):
        ensure_storable(body, raw_body=raw_body)
        message, timestamps = _validate(body)
    else:  # no NUL anywhere: only the depth of what `_validate` leaves unchecked is in doubt
        message, timestamps = _validate(body)
        _ensure_extras_storable(body)
    per_alert_size = body_size // max(len(message.alerts), 1)
    events = []
    for alert, (starts_at, ends_at), raw in zip(
        message.alerts, timestamps, body["alerts"], strict=True
    ):
        summary = (
            alert.annotations.get("summary")
            or alert.annotations.get("description")
            or alert.labels.get("alertname")
            or message.title
            or "Alert"
        )
        links = [
            {"href": href, "text": text}
            for href, text in (
                (alert.generatorURL, "Source"),
                (alert.dashboardURL, "Dashboard"),
                (alert.panelURL, "Panel"),
                (alert.silenceURL, "Silence"),
                (alert.annotations.get("runbook_url", ""), "Runbook"),
            )
            if href
        ]
        details: dict[str, Any] = {"annotations": alert.annotations}
        if alert.values is not None:
            details["values"] = alert.values
        if alert.valueString:
            details["value_string"] = alert.valueString
        event = AlertEvent(
            action=Action.TRIGGER if alert.status == "firing" else Action.RESOLVE,
            dedup_key=alert.fingerprint or label_fingerprint(alert.labels),
            integration_type=integration_type,
            summary=truncate(summary),
            severity=alert.labels.get("severity") or alert.labels.get("priority"),
            source=truncate(
                alert.labels.get("instance") or alert.labels.get("job") or message.receiver,
                255,
            ),
            labels=alert.labels,
            details=details,
            links=links,
            group_key=message.groupKey or None,
            starts_at=starts_at,
            ends_at=ends_at,
            raw=cap_raw(raw, size_estimate=per_alert_size, limit=raw_limit),
        )
        event.raw = compact_raw(event.raw, event)
        events.append(event)
    return events


# What `_validate` vouches for: labels and annotations are maps of strings, values a map of
# numbers, the rest strings and numbers. Whatever else a sender adds to an alert goes into its raw
# payload as it came, and may nest.
_CHECKED_MESSAGE_FIELDS = frozenset(_MessageFields.model_fields)
_CHECKED_ALERT_FIELDS = frozenset(_AlertFields.model_fields)


def _ensure_extras_storable(body: dict[str, Any]) -> None:
    """`ensure_storable`'s depth check for a validated notification: only fields beyond
    WebhookMessage's and WebhookAlert's can nest."""
    ensure_extra_fields_storable(
        body, _CHECKED_MESSAGE_FIELDS, lists={"alerts": _CHECKED_ALERT_FIELDS}
    )


def _validate(body: Any) -> tuple[_MessageFields, list[tuple[datetime | None, datetime | None]]]:
    """The notification and its alerts' (startsAt, endsAt), checked as WebhookMessage would; a
    refusal comes from WebhookMessage itself, so it names the same fields in the same order."""
    seen: dict[str, datetime | None] = {}
    try:
        message = _MessageFields.model_validate(body)
        timestamps = [
            (parse_timestamp(alert.startsAt, seen), parse_timestamp(alert.endsAt, seen))
            for alert in message.alerts
        ]
    except ValueError:  # pydantic's ValidationError is one too
        pass
    else:
        return message, timestamps
    try:
        checked = WebhookMessage.model_validate(body)
    except ValidationError as exc:
        raise validation_failed(exc) from exc
    return checked, [(alert.startsAt, alert.endsAt) for alert in checked.alerts]
