"""AlertEvent: the one shape every inbound format is parsed into before the ingest pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson


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
    # In the ingest writer process, these three are JSON text (`orjson.Fragment`): see __reduce__.
    details: dict[str, Any] | orjson.Fragment = field(default_factory=dict)
    links: list[dict[str, str]] | orjson.Fragment = field(default_factory=list)
    group_key: str | None = None  # the sender's own grouping (Alertmanager groupKey)
    starts_at: datetime | None = None
    # For resolves: when it ended. For Prometheus triggers: when it expires unless refreshed.
    ends_at: datetime | None = None
    raw: dict[str, Any] | orjson.Fragment | None = None

    def to_wire(self) -> tuple[Any, ...]:
        """The event as plain values, for `vigil serve`'s ingest writer process (`from_wire`).

        Plain values pickle without a class to look up by name per event, which the unpickler
        imported again for each. The details, links and raw payload go as JSON text: the writer
        only stores them, and the HTTP processes, which have a core to spare, serialize them
        instead of the writer. Times go as microseconds since the epoch: pickling an aware
        datetime pickles its timezone through copyreg, which cost more than the rest together.
        """
        return (
            self.action.value,
            self.dedup_key,
            self.integration_type,
            self.summary,
            self.severity,
            self.source,
            self.labels,
            orjson.dumps(self.details),
            orjson.dumps(self.links),
            self.group_key,
            to_micros(self.starts_at),
            to_micros(self.ends_at),
            None if self.raw is None else orjson.dumps(self.raw),
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (from_wire, (self.to_wire(),))


_ACTIONS = {action.value: action for action in Action}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(moment: datetime | None) -> int | None:
    """A moment as whole microseconds since the epoch (a naive one is taken as UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def from_micros(micros: int | None) -> datetime | None:
    """The UTC moment `to_micros` gave."""
    return None if micros is None else _EPOCH + timedelta(microseconds=micros)


def from_wire(values: tuple[Any, ...]) -> AlertEvent:
    """An event as the ingest writer process receives it (`AlertEvent.to_wire`): what it only
    stores stays JSON text, which the database drivers' JSON conversion (orjson) writes as it
    is."""
    # dedup key, integration type, summary, severity, source, labels: as they were sent
    action, *sent, details, links, group_key, starts_at, ends_at, raw = values
    return AlertEvent(
        _ACTIONS[action],
        *sent,
        details=orjson.Fragment(details),
        links=orjson.Fragment(links),
        group_key=group_key,
        starts_at=from_micros(starts_at),
        ends_at=from_micros(ends_at),
        raw=None if raw is None else orjson.Fragment(raw),
    )
