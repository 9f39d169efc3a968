"""PagerDuty Events API v2: `/v2/enqueue` alert events and `/v2/change/enqueue` change events,
with PagerDuty's own validation, limits and reply bodies so its official clients work unchanged."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator

from vigil.alerts.events import Action, AlertEvent
from vigil.integrations.common import (
    DEDUP_KEY_LIMIT,
    SUMMARY_LIMIT,
    Strict,
    Timestamp,
    cap_raw,
    ensure_storable,
    validation_failed,
)


class Link(Strict):
    href: str = Field(min_length=1, max_length=4096)
    text: str = Field(default="", max_length=1024)


class Image(Strict):
    src: str = Field(min_length=1, max_length=4096)
    href: str = Field(default="", max_length=4096)
    alt: str = Field(default="", max_length=1024)


class TriggerPayload(Strict):
    summary: str = Field(min_length=1, max_length=SUMMARY_LIMIT)
    source: str = Field(min_length=1, max_length=255)
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: Timestamp = None
    component: str = Field(default="", max_length=255)
    group: str = Field(default="", max_length=255)
    # PagerDuty's field is `class`, a Python keyword.
    class_: str = Field(default="", max_length=255, alias="class")
    custom_details: Any = None


class AlertEventBody(Strict):
    routing_key: str = Field(min_length=1, max_length=64)
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: str | None = Field(default=None, max_length=DEDUP_KEY_LIMIT, validate_default=True)
    # Validated only on trigger: Alertmanager sends a payload even on resolve, and we ignore it.
    payload: dict[str, Any] | None = None
    client: str = Field(default="", max_length=255)
    client_url: str = Field(default="", max_length=4096)
    links: list[Link] = Field(default_factory=list, max_length=50)
    images: list[Image] = Field(default_factory=list, max_length=50)

    @field_validator("dedup_key")
    @classmethod
    def _dedup_key_for_ack_and_resolve(
        cls, dedup_key: str | None, info: ValidationInfo
    ) -> str | None:
        # A field validator (run on the default too), so the error names `dedup_key`.
        action = info.data.get("event_action")
        if action in ("acknowledge", "resolve") and not dedup_key:
            raise ValueError(f"'dedup_key' is required for event_action '{action}'")
        return dedup_key


class ChangePayload(Strict):
    summary: str = Field(min_length=1, max_length=SUMMARY_LIMIT)
    source: str | None = Field(default=None, max_length=255)
    timestamp: Timestamp = None
    custom_details: dict[str, Any] = Field(default_factory=dict)


class ChangeEventBody(Strict):
    routing_key: str = Field(min_length=1, max_length=64)
    payload: ChangePayload
    links: list[Link] = Field(default_factory=list, max_length=50)


def parse_alert_event(
    body: Any, *, body_size: int, raw_limit: int, raw_body: bytes | None = None
) -> tuple[str, AlertEvent]:
    """(routing key, event); a trigger without dedup_key gets a new one, as PagerDuty does.

    `raw_body` is the JSON text `body` was parsed from."""
    ensure_storable(body, raw_body=raw_body)
    try:
        event = AlertEventBody.model_validate(body)
    except ValidationError as exc:
        raise validation_failed(exc) from exc
    payload = None
    if event.event_action == "trigger":
        try:
            payload = TriggerPayload.model_validate(event.payload or {})
        except ValidationError as exc:
            raise validation_failed(exc, prefix="payload") from exc
    dedup_key = event.dedup_key or uuid.uuid4().hex
    links = [{"href": link.href, "text": link.text} for link in event.links]
    if event.client_url:
        links.insert(0, {"href": event.client_url, "text": event.client or "Source"})
    if payload is None:
        return event.routing_key, AlertEvent(
            action=Action(event.event_action), dedup_key=dedup_key, integration_type="pagerduty"
        )
    labels = {
        name: value
        for name, value in (
            ("component", payload.component),
            ("group", payload.group),
            ("class", payload.class_),
        )
        if value
    }
    details = payload.custom_details
    return event.routing_key, AlertEvent(
        action=Action.TRIGGER,
        dedup_key=dedup_key,
        integration_type="pagerduty",
        summary=payload.summary,
        severity=payload.severity,
        source=payload.source,
        labels=labels,
        details=details if isinstance(details, dict) else {"custom_details": details},
        links=links,
        starts_at=payload.timestamp,
        # Without `routing_key`: it is the service's integration key, a secret that lets whoever
        # holds it raise alerts, and every reader of the alert would see it.
        raw=cap_raw(
            {name: value for name, value in body.items() if name != "routing_key"},
            size_estimate=body_size,
            limit=raw_limit,
        ),
    )


def parse_change_event(body: Any) -> ChangeEventBody:
    ensure_storable(body)
    try:
        return ChangeEventBody.model_validate(body)
    except ValidationError as exc:
        raise validation_failed(exc) from exc
