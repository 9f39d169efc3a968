"""Stored schedule rows → the pure calculator's inputs, and its validation errors → API errors."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import time, timedelta
from typing import Any

from vigil.errors import ValidationFailed
from vigil.schedules import calculator as calc
from vigil.schedules import models
from vigil.schedules.restrictions import Restriction, RestrictionKind
from vigil.schedules.rotation import Rotation, RotationUnit, ScheduleValidationError
from vigil.schedules.schemas import weekday_index


@contextmanager
def api_errors(prefix: str = "") -> Iterator[None]:
    """Turn the calculator's ScheduleValidationError into a 422 that names the field."""
    try:
        yield
    except ScheduleValidationError as exc:
        field = f"{prefix}{exc.field}"
        raise ValidationFailed(f"{field}: {exc.reason}", field=field) from exc


def restriction(stored: dict[str, Any]) -> Restriction:
    start = time.fromisoformat(stored["start_time"])
    if stored.get("duration_minutes") is not None:
        duration = timedelta(minutes=int(stored["duration_minutes"]))
        kind = RestrictionKind(stored["type"])
        weekday = weekday_index(stored["start_day"]) if kind == RestrictionKind.WEEKLY else None
        return Restriction(kind, start, duration, weekday)
    end = time.fromisoformat(stored["end_time"])
    if stored["type"] == "daily":
        return Restriction.daily(start, end)
    return Restriction.weekly(
        weekday_index(stored["start_day"]), start, weekday_index(stored["end_day"]), end
    )


def rotation(version: models.LayerVersion) -> Rotation:
    return Rotation(
        RotationUnit(version.rotation_unit),
        version.rotation_length,
        time.fromisoformat(version.handoff_time),
        version.handoff_weekday,
    )


def layer_version(version: models.LayerVersion) -> calc.LayerVersion:
    """A stored version bounded by both its effective span and the layer's own start and end."""
    start = max(version.effective_from, version.start)
    ends = [e for e in (version.effective_until, version.end) if e is not None]
    return calc.LayerVersion(
        start=start,
        end=min(ends) if ends else None,
        participants=tuple(version.participants),
        rotation=rotation(version),
        restrictions=tuple(restriction(r) for r in version.restrictions),
        rotation_start=version.start,
    )


def schedule(
    stored: models.Schedule,
    layers: Iterable[models.ScheduleLayer],
    versions: Iterable[models.LayerVersion],
    overrides: Iterable[models.Override],
) -> calc.Schedule:
    by_layer: dict[int, list[calc.LayerVersion]] = {}
    for version in versions:
        converted = layer_version(version)
        if converted.end is None or converted.end > converted.start:
            by_layer.setdefault(version.layer_id, []).append(converted)
    return calc.Schedule(
        time_zone=stored.time_zone,
        layers=tuple(
            calc.Layer(level=layer.level, versions=tuple(by_layer[layer.id]))
            for layer in layers
            if by_layer.get(layer.id)
        ),
        overrides=tuple(
            calc.Override(start=o.start, end=o.end, user_id=o.user_id, id=o.id) for o in overrides
        ),
    )
