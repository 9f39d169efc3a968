"""AlertEvent: the one shape every inbound format is parsed into before the ingest pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


@dataclass(slots=True)
class AlertEvent:
    """What a sender told us about one alert, already validated and size-limited."""

    action: Action
    dedup_key: str
    integration_type: str
    summary: str = ""
    severity: str | None = None  # the sender's word (critical, warning, P1, ...), mapped later
    source: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    links: list[dict[str, str]] = field(default_factory=list)
    group_key: str | None = None  # the sender's own grouping (Alertmanager groupKey)
    starts_at: datetime | None = None
    # For resolves: when it ended. For Prometheus triggers: when it expires unless refreshed.
    ends_at: datetime | None = None
    raw: dict[str, Any] | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # Events cross to `vigil serve`'s ingest writer process as pickles; the generic path for
        # a slotted class looks its slots up per object and took half the hand-over's time.
        return (
            AlertEvent,
            (
                self.action,
                self.dedup_key,
                self.integration_type,
                self.summary,
                self.severity,
                self.source,
                self.labels,
                self.details,
                self.links,
                self.group_key,
                self.starts_at,
                self.ends_at,
                self.raw,
            ),
        )
