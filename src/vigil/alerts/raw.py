"""The last raw payload of an alert, stored without what the alert's own columns already hold.

An alert from Prometheus or Alertmanager repeats its labels, annotations and links in its raw
payload: stored whole, they were a third of every alert row, and a storm of new alerts took the
ingest writer about a tenth longer for them (16–17 against 15 µs an alert). So `compact_raw`
keeps of a payload only what the columns written with it (labels, details, links, dedup key:
always written together with the raw payload, from the same event) cannot give back exactly,
and `restore_raw` puts the payload together again when someone reads it. A field is left out
only when what the columns give back is equal to what was sent, so the restored payload is
equal, value for value, to the one that came; only the order of its fields may differ: first
those the columns give back, in the format's order, then the others in the order they came.

Stored forms: a JSON object is a payload kept as it came (every format, and every row stored
before compaction); a JSON array `[residual]` or `[residual, absent]` is a compacted one:
`residual` holds the fields the columns cannot give back, and `absent` names the fields the
columns would give but the sender did not send. A payload is always an object, so the two forms
never meet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class _Columns(Protocol):
    """What an alert's columns hold of its last event: an `AlertEvent` or an `Alert` row."""

    dedup_key: str
    integration_type: str
    labels: Any
    details: Any
    links: Any


_MISSING: Any = object()  # the columns give nothing back for this field

# Where a field comes back from: the alert's labels, one of its details, the href of the link
# the parser made under a text, or its dedup key.
_LABELS, _DETAIL, _LINK, _DEDUP_KEY = range(4)
_Source = tuple[int, str]

# Per integration type, the fields of a sender's alert that its columns give back, in the
# format's own order (wire-formats.md), and from where. The parsers (`vigil.integrations`) decide
# what goes into each column; these read it back. Grafana's `values` stay in the residual: its
# numbers are validated as floats, so a sender's `1` would come back as `1.0`.
_PROMETHEUS: dict[str, _Source] = {
    "labels": (_LABELS, ""),
    "annotations": (_DETAIL, "annotations"),
    "generatorURL": (_LINK, "Source"),
}
_WEBHOOK: dict[str, _Source] = {
    "labels": (_LABELS, ""),
    "annotations": (_DETAIL, "annotations"),
    "generatorURL": (_LINK, "Source"),
    "fingerprint": (_DEDUP_KEY, ""),
    "silenceURL": (_LINK, "Silence"),
    "dashboardURL": (_LINK, "Dashboard"),
    "panelURL": (_LINK, "Panel"),
    "valueString": (_DETAIL, "value_string"),
}
DERIVED: Mapping[str, Mapping[str, _Source]] = {
    "prometheus": _PROMETHEUS,
    "alertmanager": _WEBHOOK,
    "grafana": _WEBHOOK,
}


def _given_back(alert: _Columns, source: _Source) -> Any:
    """What `alert`'s columns hold for a field, or _MISSING. One function, not one per field:
    the HTTP processes compact every alert of every request."""
    kind, key = source
    if kind == _LABELS:
        return alert.labels
    if kind == _DETAIL:
        details = alert.details
        return details.get(key, _MISSING) if isinstance(details, dict) else _MISSING
    if kind == _LINK:
        links = alert.links
        if isinstance(links, list):
            for link in links:
                if isinstance(link, dict) and link.get("text") == key:
                    return link.get("href", _MISSING)
        return _MISSING
    return alert.dedup_key


def compact_raw(raw: Any, alert: _Columns) -> Any:
    """`raw` as stored beside `alert`'s columns: without the fields they give back exactly.

    Formats without derived fields, and anything not a payload (None, a truncation note that
    `cap_raw` put in its place), are stored as they are.
    """
    derived = DERIVED.get(alert.integration_type)
    if derived is None or not isinstance(raw, dict):
        return raw
    residual = {}
    for name, value in raw.items():
        source = derived.get(name)
        if source is None or _given_back(alert, source) != value:
            residual[name] = value
    if len(raw) - len(residual) == len(derived):  # the usual case: every one sent and left out
        return [residual]
    absent = [
        name
        for name, source in derived.items()
        if name not in raw and _given_back(alert, source) is not _MISSING
    ]
    return [residual, absent] if absent else [residual]


def restore_raw(stored: Any, alert: _Columns) -> dict[str, Any] | None:
    """The payload `compact_raw` stored, whole again; a payload stored as it came, unchanged."""
    if not isinstance(stored, list):
        return stored
    residual: dict[str, Any] = stored[0]
    absent = stored[1] if len(stored) > 1 else ()
    restored = {}
    for name, source in DERIVED.get(alert.integration_type, {}).items():
        if name in residual:
            restored[name] = residual[name]
        elif name not in absent:
            value = _given_back(alert, source)
            if value is not _MISSING:
                restored[name] = value
    for name, value in residual.items():
        restored.setdefault(name, value)
    return restored
