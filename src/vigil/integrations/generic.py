"""Vigil's own JSON format for anything that can POST: one event or a list of them.

{"summary": "Disk full on db-1", "severity": "critical", "source": "db-1",
 "dedup_key": "disk-db-1", "action": "trigger", "labels": {"team": "storage"},
 "details": {"free_bytes": 0}, "links": [{"href": "https://...", "text": "Runbook"}]}
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import orjson
from pydantic import Field, TypeAdapter, ValidationError, ValidationInfo, field_validator

from vigil.alerts.events import Action, AlertEvent
from vigil.errors import ValidationFailed
from vigil.integrations.common import (
    DEDUP_KEY_LIMIT,
    SUMMARY_LIMIT,
    Labels,
    Strict,
    Timestamp,
    cap_raw,
    ensure_storable,
    validation_failed,
)

MAX_EVENTS = 1000


class Link(Strict):
    href: str = Field(min_length=1, max_length=4096)
    text: str = Field(default="", max_length=1024)


class GenericEvent(Strict):
    action: Literal["trigger", "acknowledge", "resolve"] = "trigger"
    # The cross-field rules below are field validators (run on defaults too) rather than a model
    # validator, so their errors name the field at fault.
    summary: str = Field(default="", max_length=SUMMARY_LIMIT, validate_default=True)
    severity: str | None = Field(default=None, max_length=32)
    source: str = Field(default="", max_length=255)
    dedup_key: str | None = Field(
        default=None, min_length=1, max_length=DEDUP_KEY_LIMIT, validate_default=True
    )
    group_key: str | None = Field(default=None, max_length=1024)
    timestamp: Timestamp = None
    labels: Labels = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)
    links: list[Link] = Field(default_factory=list, max_length=50)

    @field_validator("summary")
    @classmethod
    def _summary_to_trigger(cls, summary: str, info: ValidationInfo) -> str:
        if info.data.get("action") == "trigger" and not summary.strip():
            raise ValueError("summary is required to trigger an alert")
        return summary

    @field_validator("dedup_key")
    @classmethod
    def _dedup_key_to_ack_or_resolve(
        cls, dedup_key: str | None, info: ValidationInfo
    ) -> str | None:
        action = info.data.get("action")
        if action in ("acknowledge", "resolve") and not dedup_key:
            raise ValueError(f"dedup_key is required to {action} an alert")
        return dedup_key


_EVENTS = TypeAdapter(list[GenericEvent])


def parse_generic(body: Any, *, body_size: int, raw_limit: int) -> list[AlertEvent]:
    """One event (an object) or many (an array); any invalid event refuses the whole request."""
    is_batch = isinstance(body, list)
    items = body if is_batch else [body]
    if not items:
        raise ValidationFailed("body: must hold at least one event", field="body")
    if len(items) > MAX_EVENTS:
        raise ValidationFailed(f"body: at most {MAX_EVENTS} events per request", field="body")
    ensure_storable(body, prefix="events" if is_batch else "")
    try:
        events = _EVENTS.validate_python(items) if is_batch else [GenericEvent.model_validate(body)]
    except ValidationError as exc:
        # A single event's errors name its fields (`summary`), a batch's the index (`events[1]`).
        raise validation_failed(exc, prefix="events" if is_batch else "") from exc
    per_event_size = body_size // len(items)
    return [
        AlertEvent(
            action=Action(event.action),
            dedup_key=event.dedup_key or _derived_key(event),
            integration_type="generic",
            summary=event.summary,
            severity=event.severity,
            source=event.source,
            labels=event.labels,
            details=event.details,
            links=[link.model_dump() for link in event.links],
            group_key=event.group_key,
            starts_at=event.timestamp,
            raw=cap_raw(items[index], size_estimate=per_event_size, limit=raw_limit),
        )
        for index, event in enumerate(events)
    ]


def _derived_key(event: GenericEvent) -> str:
    """Without a dedup_key, the same summary, source and labels are the same alert."""
    identity = orjson.dumps(
        [event.summary, event.source, sorted(event.labels.items())], option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(identity).hexdigest()[:32]
