"""Alertmanager webhook (payload version 4) and Grafana's webhook contact point, its extension."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError

from vigil.alerts.events import Action, AlertEvent
from vigil.alerts.keys import label_fingerprint
from vigil.integrations.common import (
    DEDUP_KEY_LIMIT,
    Labels,
    Strict,
    Text,
    Timestamp,
    cap_raw,
    ensure_storable,
    truncate,
    validation_failed,
)

Url = Field(default="", max_length=4096)


class WebhookAlert(Strict):
    status: Literal["firing", "resolved"]
    labels: Labels
    annotations: dict[str, Text] = Field(default_factory=dict, max_length=200)
    startsAt: Timestamp = None
    endsAt: Timestamp = None
    generatorURL: str = Url
    fingerprint: str | None = Field(default=None, max_length=DEDUP_KEY_LIMIT)
    # Grafana's additions
    dashboardURL: str = Url
    panelURL: str = Url
    silenceURL: str = Url
    imageURL: str = Url
    valueString: str = Field(default="", max_length=16_384)
    values: dict[str, float | None] | None = None


class WebhookMessage(Strict):
    version: str = Field(max_length=16)
    groupKey: str = Field(default="", max_length=8192)
    status: Literal["firing", "resolved"] = "firing"
    receiver: str = Field(default="", max_length=1024)
    groupLabels: Labels = Field(default_factory=dict)
    commonLabels: Labels = Field(default_factory=dict)
    commonAnnotations: dict[str, Text] = Field(default_factory=dict)
    externalURL: str = Url
    truncatedAlerts: int = 0
    alerts: list[WebhookAlert] = Field(max_length=10_000)
    # Grafana's additions
    orgId: int | None = None
    state: str | None = None
    title: str = Field(default="", max_length=16_384)


def parse_webhook(
    body: Any, *, integration_type: str, body_size: int, raw_limit: int
) -> list[AlertEvent]:
    """Every alert of one Alertmanager or Grafana notification, in order, as AlertEvents."""
    ensure_storable(body)
    try:
        message = WebhookMessage.model_validate(body)
    except ValidationError as exc:
        raise validation_failed(exc) from exc
    per_alert_size = body_size // max(len(message.alerts), 1)
    events = []
    for index, alert in enumerate(message.alerts):
        raw = body["alerts"][index]
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
        events.append(
            AlertEvent(
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
                starts_at=alert.startsAt,
                ends_at=alert.endsAt,
                raw=cap_raw(raw, size_estimate=per_alert_size, limit=raw_limit),
            )
        )
    return events
