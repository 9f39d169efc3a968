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
from vigil.errors import ValidationFailed
from vigil.integrations.common import (
    Labels,
    Strict,
    Text,
    Timestamp,
    cap_raw,
    ensure_storable,
    truncate,
    validation_failed,
)

# Alertmanager's default resolve_timeout: how long an alert without endsAt stays firing.
RESOLVE_TIMEOUT = timedelta(minutes=5)


class PostableAlert(Strict):
    labels: Labels
    annotations: dict[str, Text] = Field(default_factory=dict, max_length=200)
    startsAt: Timestamp = None
    endsAt: Timestamp = None
    generatorURL: str = Field(default="", max_length=4096)

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


_ALERTS = TypeAdapter(list[PostableAlert])


def parse_postable_alerts(
    body: Any, *, now: datetime, body_size: int, raw_limit: int
) -> list[AlertEvent]:
    if not isinstance(body, list):
        raise ValidationFailed("body: must be a JSON array of alerts", field="body")
    ensure_storable(body, prefix="alerts")
    try:
        alerts = _ALERTS.validate_python(body)
    except ValidationError as exc:
        raise validation_failed(exc, prefix="alerts") from exc
    per_alert_size = body_size // max(len(alerts), 1)
    events = []
    for index, alert in enumerate(alerts):
        ends_at = alert.endsAt or now + RESOLVE_TIMEOUT
        resolved = ends_at <= now
        summary = (
            alert.annotations.get("summary")
            or alert.annotations.get("description")
            or alert.labels.get("alertname")
            or "Alert"
        )
        events.append(
            AlertEvent(
                action=Action.RESOLVE if resolved else Action.TRIGGER,
                dedup_key=label_fingerprint(alert.labels),
                integration_type="prometheus",
                summary=truncate(summary),
                severity=alert.labels.get("severity") or alert.labels.get("priority"),
                source=truncate(alert.labels.get("instance") or alert.labels.get("job", ""), 255),
                labels=alert.labels,
                details={"annotations": alert.annotations},
                links=[{"href": alert.generatorURL, "text": "Source"}]
                if alert.generatorURL
                else [],
                starts_at=alert.startsAt,
                ends_at=ends_at,
                raw=cap_raw(body[index], size_estimate=per_alert_size, limit=raw_limit),
            )
        )
    return events
