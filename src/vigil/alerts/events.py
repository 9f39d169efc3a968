"""AlertEvent: the one shape every inbound format is parsed into before the ingest pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson

from vigil.memo import Memo


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
    # In the ingest writer process: the labels, details, links and raw payload as the JSON text
    # a SQLite row stores (`vigil.integrations.ingest._write_alerts`), made by the HTTP process.
    texts: tuple[str, str, str, str] | None = field(default=None, compare=False, repr=False)

    def to_wire(self) -> tuple[Any, ...]:
        """The event as plain values, for `vigil serve`'s ingest writer process (`from_wire`).

        Plain values pickle without a class to look up by name per event, which the unpickler
        imported again for each. The details, links and raw payload go as JSON text, and the
        labels as JSON text besides (the writer groups by them): the writer only stores them,
        and the HTTP processes, which have a core to spare, serialize them instead of the
        writer. Times go as microseconds since the epoch: pickling an aware datetime pickles its
        timezone through copyreg, which cost more than the rest together.
        """
        return (
            self.action.value,
            self.dedup_key,
            self.integration_type,
            self.summary,
            self.severity,
            self.source,
            self.labels,
            orjson.dumps(self.details).decode(),
            orjson.dumps(self.links).decode(),
            self.group_key,
            to_micros(self.starts_at),
            to_micros(self.ends_at),
            None if self.raw is None else orjson.dumps(self.raw).decode(),
            orjson.dumps(self.labels).decode(),
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (from_wire, (self.to_wire(),))


_ACTIONS = {action.value: action for action in Action}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(moment: datetime | None) -> int | None:
    """A moment as whole microseconds since the epoch (a naive one is taken as UTC). The alerts
    of a batch mostly share their times, and the HTTP processes encode every one: each moment's
    arithmetic is done once."""
    return None if moment is None else _MICROS[moment]


def from_micros(micros: int | None) -> datetime | None:
    """The UTC moment `to_micros` gave. The alerts of a batch mostly share their times, and the
    writer process decodes thousands a second: each moment is made once."""
    return None if micros is None else _MOMENTS[micros]


def _micros(moment: datetime) -> int:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return (aware - _EPOCH) // _MICROSECOND


def _moment(micros: int) -> datetime:
    return _EPOCH + timedelta(0, 0, micros)


_MICROS = Memo(_micros)
_MOMENTS = Memo(_moment)


def from_wire(values: tuple[Any, ...]) -> AlertEvent:
    """An event as the ingest writer process receives it (`AlertEvent.to_wire`): what it only
    stores stays JSON text, which the database drivers' JSON conversion (orjson) writes as it
    is."""
    # Positional and indexed: the writer decodes every event of every batch.
    details, links, raw = values[7], values[8], values[12]
    return AlertEvent(
        _ACTIONS[values[0]],
        values[1],  # dedup key
        values[2],  # integration type
        values[3],  # summary
        values[4],  # severity
        values[5],  # source
        values[6],  # labels
        orjson.Fragment(details),
        orjson.Fragment(links),
        values[9],  # group key
        from_micros(values[10]),  # starts at
        from_micros(values[11]),  # ends at
        None if raw is None else orjson.Fragment(raw),
        (values[13], details, links, _NULL if raw is None else raw),
    )


_NULL = "null"  # what orjson writes for None: a missing raw payload's stored text
