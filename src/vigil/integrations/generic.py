"""Vigil's own JSON format for anything that can POST: one event or a list of them.

{"summary": "Disk full on db-1", "severity": "critical", "source": "db-1",
 "dedup_key": "disk-db-1", "action": "trigger", "labels": {"team": "storage"},
 "details": {"free_bytes": 0}, "links": [{"href": "https://...", "text": "Runbook"}]}
"""

from __future__ import annotations

import hashlib
from datetime import datetime
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
    parse_timestamp,
    validation_failed,
)

MAX_EVENTS = 1000


class Link(Strict):
    href: str = Field(min_length=1, max_length=4096)
    text: str = Field(default="", max_length=1024)


class _Fields(Strict):
    """GenericEvent with its timestamp left raw and without its cross-field rules: `_validate`
    parses and checks them in one loop over the batch, for a fraction of the cost of three
    Python validators per event."""

    action: Literal["trigger", "acknowledge", "resolve"] = "trigger"
    summary: str = Field(default="", max_length=SUMMARY_LIMIT, validate_default=True)
    severity: str | None = Field(default=None, max_length=32)
    source: str = Field(default="", max_length=255)
    dedup_key: str | None = Field(
        default=None, min_length=1, max_length=DEDUP_KEY_LIMIT, validate_default=True
    )
    group_key: str | None = Field(default=None, max_length=1024)
    timestamp: Any = None
    labels: Labels = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)
    links: list[Link] = Field(default_factory=list, max_length=50)


class GenericEvent(_Fields):
    """One event; validated only to explain a refusal, naming the field."""

    timestamp: Timestamp = None

    # Field validators (run on defaults too) rather than a model validator, so that their errors
    # name the field at fault.
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


_FAST = TypeAdapter(list[_Fields])
_EVENTS = TypeAdapter(list[GenericEvent])


def parse_generic(
    body: Any, *, body_size: int, raw_limit: int, raw_body: bytes | None = None
) -> list[AlertEvent]:
    """One event (an object) or many (an array); any invalid event refuses the whole request.

    `raw_body` is the JSON text `body` was parsed from."""
    is_batch = isinstance(body, list)
    items = body if is_batch else [body]
    if not items:
        raise ValidationFailed("body: must hold at least one event", field="body")
    if len(items) > MAX_EVENTS:
        raise ValidationFailed(f"body: at most {MAX_EVENTS} events per request", field="body")
    ensure_storable(body, prefix="events" if is_batch else "", raw_body=raw_body)
    events = _validate(body, is_batch=is_batch)
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
            links=[{"href": link.href, "text": link.text} for link in event.links],
            group_key=event.group_key,
            starts_at=timestamp,
            raw=cap_raw(item, size_estimate=per_event_size, limit=raw_limit),
        )
        for (event, timestamp), item in zip(events, items, strict=True)
    ]


def _validate(body: Any, *, is_batch: bool) -> list[tuple[_Fields, datetime | None]]:
    """Each event and its timestamp, checked as GenericEvent would; a refusal comes from
    GenericEvent itself, so it names the same fields in the same order."""
    seen: dict[str, datetime | None] = {}
    checked = []
    try:
        events = _FAST.validate_python(body) if is_batch else [_Fields.model_validate(body)]
        for event in events:
            timestamp = parse_timestamp(event.timestamp, seen)
            if (event.action == "trigger" and not event.summary.strip()) or (
                event.action != "trigger" and not event.dedup_key
            ):
                break
            checked.append((event, timestamp))
        else:
            return checked
    except ValueError:  # pydantic's ValidationError is one too
        pass
    try:
        explained = (
            _EVENTS.validate_python(body) if is_batch else [GenericEvent.model_validate(body)]
        )
    except ValidationError as exc:
        # A single event's errors name its fields (`summary`), a batch's the index (`events[1]`).
        raise validation_failed(exc, prefix="events" if is_batch else "") from exc
    return [(event, event.timestamp) for event in explained]


def _derived_key(event: _Fields) -> str:
    """Without a dedup_key, the same summary, source and labels are the same alert."""
    identity = orjson.dumps(
        [event.summary, event.source, sorted(event.labels.items())], option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(identity).hexdigest()[:32]
