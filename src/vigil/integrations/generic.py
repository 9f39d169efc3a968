"""Vigil's own JSON format for anything that can POST: one event or a list of them.

{"summary": "Disk full on db-1", "severity": "critical", "source": "db-1",
 "dedup_key": "disk-db-1", "action": "trigger", "labels": {"team": "storage"},
 "details": {"free_bytes": 0}, "links": [{"href": "https://...", "text": "Runbook"}]}
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import orjson
from pydantic import Field, TypeAdapter, ValidationError, model_validator

from vigil.alerts.events import Action, AlertEvent
from vigil.errors import ValidationFailed
from vigil.integrations.common import (
    DEDUP_KEY_LIMIT,
    SUMMARY_LIMIT,
    Labels,
    Strict,
    Timestamp,
    cap_raw,
    validation_failed,
)

MAX_EVENTS = 1000


class Link(Strict):
    href: str = Field(min_length=1, max_length=4096)
    text: str = Field(default="", max_length=1024)


class GenericEvent(Strict):
    action: Literal["trigger", "acknowledge", "resolve"] = "trigger"
    summary: str = Field(default="", max_length=SUMMARY_LIMIT)
    severity: str | None = Field(default=None, max_length=32)
    source: str = Field(default="", max_length=255)
    dedup_key: str | None = Field(default=None, min_length=1, max_length=DEDUP_KEY_LIMIT)
    group_key: str | None = Field(default=None, max_length=1024)
    timestamp: Timestamp = None
    labels: Labels = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)
    links: list[Link] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _required_by_action(self) -> GenericEvent:
        if self.action == "trigger" and not self.summary.strip():
            raise ValueError("summary is required to trigger an alert")
        if self.action != "trigger" and not self.dedup_key:
            raise ValueError(f"dedup_key is required to {self.action} an alert")
        return self


_EVENTS = TypeAdapter(list[GenericEvent])

# Which field a cross-field rule is about, so the error still names a field.
_RULE_FIELDS = {"summary is required": "summary", "dedup_key is required": "dedup_key"}


def parse_generic(body: Any, *, body_size: int, raw_limit: int) -> list[AlertEvent]:
    items = body if isinstance(body, list) else [body]
    if not items:
        raise ValidationFailed("body: must hold at least one event", field="body")
    if len(items) > MAX_EVENTS:
        raise ValidationFailed(f"body: at most {MAX_EVENTS} events per request", field="body")
    try:
        events = _EVENTS.validate_python(items)
    except ValidationError as exc:
        failed = validation_failed(exc, prefix="events" if isinstance(body, list) else "")
        for phrase, name in _RULE_FIELDS.items():
            if phrase in failed.message:
                failed.field = f"{failed.field}.{name}" if failed.field != "body" else name
        raise failed from exc
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
