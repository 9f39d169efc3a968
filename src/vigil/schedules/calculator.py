"""The pure on-call calculator: who is on call when, from a schedule's layers and overrides.

Everything here is a function of its arguments: no database, no clock, no I/O. Every function takes
and returns aware UTC datetimes; intervals are half-open, [start, end).

How a schedule resolves
-----------------------
* A schedule has an IANA time zone, layers and overrides.
* A layer has a `level`; where layers overlap, the highest level that has someone on call wins,
  and a lower level shows through wherever a higher one is empty (outside its restrictions or
  versions). Levels are unique within a schedule.
* A layer is a sequence of versions that never overlap. Changing a layer ends the current version
  at the moment of the change and starts a new one (`change_layer`), so the past never changes.
* A version's rotation is anchored at its `rotation_start` (default: the version's start).
  Participant 0 holds the turn that contains the anchor; for day and week rotations that turn
  began at the last handoff at or before the anchor, so a weekly Monday 09:00 rotation whose
  version starts on a Wednesday gives participant 0 the rest of that week. To give participant 0
  a full first turn, anchor on a handoff; to keep the rotation going across an edit, give the new
  version the old version's anchor.
* An override puts one user on call for [start, end); it beats every layer. Where overrides
  overlap, the one with the higher `id` wins, then the one later in the list.
* Final shifts list only time with someone on call; time with nobody on call is reported as gaps
  (`gaps`, `upcoming_gaps`), never as a shift without a user. Consecutive shifts of the same user
  are merged, in final and per-layer results alike.

Daylight saving time
--------------------
* Day and week rotations hand off at local wall-clock time, all year. A Monday 09:00 weekly
  handoff in Europe/Berlin is 09:00 local on every Monday, so the week that contains the spring
  change lasts 167 hours and the autumn one 169 (in Australia/Lord_Howe, 167.5 and 168.5).
* Hour rotations count exact elapsed hours from the anchor. A 12-hour rotation handing off at
  08:00 and 20:00 in winter hands off at 09:00 and 21:00 after spring forward: no turn is ever
  longer or shorter than N hours.
* A local time that does not exist that day (02:30 on a spring-forward night in Berlin) happens at
  the first valid instant after it: the moment of the jump, 03:00 local.
* A local time that happens twice (02:30 on a fall-back night) happens at its first occurrence.
* Restriction windows follow the same rules for their opening and closing times, so a 22:00–06:00
  window is 7 hours long on the spring-forward night and 9 hours on the fall-back night.

The calculators trust the schedule they are given (beyond what they need to avoid looping forever);
call `validate_schedule` when a schedule is written, and `validate_window` guards every query.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from vigil.clock import ensure_utc
from vigil.schedules.restrictions import (
    Restriction,
    clip_to_spans,
    restriction_windows,
    validate_restriction,
)
from vigil.schedules.rotation import (
    Rotation,
    ScheduleValidationError,
    Segment,
    require_aware,
    rotation_segments,
    validate_rotation,
    zone_for,
)

MAX_OVERRIDE = timedelta(days=90)
MAX_WINDOW = timedelta(days=731)  # two years, even when one of them is a leap year


@dataclass(frozen=True, slots=True)
class LayerVersion:
    """One period of a layer's settings, from `start` until `end` (None: open-ended).

    `participants` are user ids in turn order; a user may appear more than once to take more turns.
    """

    start: datetime
    participants: tuple[int, ...]
    rotation: Rotation
    end: datetime | None = None
    restrictions: tuple[Restriction, ...] = ()
    rotation_start: datetime | None = None

    @property
    def anchor(self) -> datetime:
        """The instant participant 0's turn contains (see the module docstring)."""
        return self.rotation_start if self.rotation_start is not None else self.start


@dataclass(frozen=True, slots=True)
class Layer:
    """A rotation with a precedence `level` (higher wins) and non-overlapping versions over time."""

    level: int
    versions: tuple[LayerVersion, ...]


@dataclass(frozen=True, slots=True)
class Override:
    """A user covering [start, end) on a schedule, ahead of every layer."""

    start: datetime
    end: datetime
    user_id: int
    id: int = 0


@dataclass(frozen=True, slots=True)
class Schedule:
    """Everything the calculator needs about one schedule."""

    time_zone: str
    layers: tuple[Layer, ...] = ()
    overrides: tuple[Override, ...] = ()


@dataclass(frozen=True, slots=True)
class Shift:
    """A user on call for [start, end), in aware UTC."""

    start: datetime
    end: datetime
    user_id: int

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Gap:
    """Nobody on call for [start, end), in aware UTC: pages here would reach no one."""

    start: datetime
    end: datetime

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


# --- validation -------------------------------------------------------------------------------


def validate_time_zone(name: str, field: str = "time_zone") -> ZoneInfo:
    """Return the zone for an IANA name, or raise naming `field`."""
    return zone_for(name, field)


def validate_window(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """Check a query window and return it in UTC; the bound keeps every query cheap."""
    since = require_aware(since, "since")
    until = require_aware(until, "until")
    if until <= since:
        raise ScheduleValidationError("until", "must be after since")
    if until - since > MAX_WINDOW:
        raise ScheduleValidationError("until", "a query window may span at most 2 years")
    return since, until


def validate_override(override: Override, field: str = "override") -> None:
    """Refuse overrides that are empty, backwards or longer than 90 days."""
    start = require_aware(override.start, f"{field}.start")
    end = require_aware(override.end, f"{field}.end")
    if end <= start:
        raise ScheduleValidationError(f"{field}.end", "must be after start")
    if end - start > MAX_OVERRIDE:
        raise ScheduleValidationError(f"{field}.end", "an override may last at most 90 days")
    _require_user_id(override.user_id, f"{field}.user_id")


def validate_layer_version(version: LayerVersion, field: str = "version") -> None:
    """Refuse a version the calculator could not rotate (no participants, bad rotation, ...)."""
    start = require_aware(version.start, f"{field}.start")
    if version.end is not None and require_aware(version.end, f"{field}.end") <= start:
        raise ScheduleValidationError(f"{field}.end", "must be after start")
    if version.rotation_start is not None:
        require_aware(version.rotation_start, f"{field}.rotation_start")
    if not version.participants:
        raise ScheduleValidationError(
            f"{field}.participants", "a layer needs at least one participant"
        )
    for i, user_id in enumerate(version.participants):
        _require_user_id(user_id, f"{field}.participants[{i}]")
    validate_rotation(version.rotation, f"{field}.rotation")
    for i, restriction in enumerate(version.restrictions):
        validate_restriction(restriction, f"{field}.restrictions[{i}]")


def validate_layer(layer: Layer, field: str = "layer") -> None:
    """Check every version, and that versions of the layer never overlap."""
    if not layer.versions:
        raise ScheduleValidationError(f"{field}.versions", "a layer needs at least one version")
    for i, version in enumerate(layer.versions):
        validate_layer_version(version, f"{field}.versions[{i}]")
    ordered = sorted(enumerate(layer.versions), key=lambda item: item[1].start)
    for (_, before), (i, after) in itertools.pairwise(ordered):
        if before.end is None or before.end > after.start:
            raise ScheduleValidationError(
                f"{field}.versions[{i}].start", "overlaps another version of the same layer"
            )


def validate_schedule(schedule: Schedule, field: str = "schedule") -> None:
    """Validate a whole schedule before storing it; error fields are paths from the schedule."""
    prefix = f"{field}." if field else ""
    zone_for(schedule.time_zone, f"{prefix}time_zone")
    levels: set[int] = set()
    for i, layer in enumerate(schedule.layers):
        if layer.level in levels:
            raise ScheduleValidationError(f"{prefix}layers[{i}].level", "levels must be unique")
        levels.add(layer.level)
        validate_layer(layer, f"{prefix}layers[{i}]")
    for i, override in enumerate(schedule.overrides):
        validate_override(override, f"{prefix}overrides[{i}]")


def _require_user_id(value: object, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScheduleValidationError(field, "must be a user id")


# --- layer changes ----------------------------------------------------------------------------


def change_layer(layer: Layer, new_version: LayerVersion) -> Layer:
    """Apply new settings from `new_version.start` on, leaving every earlier instant untouched.

    The version in effect at that moment is cut short there, versions planned to start later are
    dropped (the change supersedes them) and the new version is added. The service layer does the
    same with rows: update the current row's end, delete later rows, insert the new one.
    """
    cut = new_version.start
    kept: list[LayerVersion] = []
    for version in sorted(layer.versions, key=lambda v: v.start):
        if version.start >= cut:
            continue
        if version.end is None or version.end > cut:
            version = replace(version, end=cut)
        kept.append(version)
    kept.append(new_version)
    return replace(layer, versions=tuple(kept))


# --- calculation ------------------------------------------------------------------------------


def _layer_segments(
    layer: Layer, zone: ZoneInfo, since: datetime, until: datetime
) -> list[Segment]:
    """A layer's on-call time within [since, until): rotation turns cut to its restrictions."""
    out: list[Segment] = []
    for version in sorted(layer.versions, key=lambda v: v.start):
        # ensure_utc: stored times may come back naive from SQLite; Vigil stores UTC.
        start = max(since, ensure_utc(version.start))
        end = until if version.end is None else min(until, ensure_utc(version.end))
        if start >= end:
            continue
        anchor = ensure_utc(version.anchor)
        segments = rotation_segments(
            version.rotation, version.participants, anchor, zone, start, end
        )
        if version.restrictions:
            windows = restriction_windows(version.restrictions, zone, start, end)
            segments = clip_to_spans(segments, windows)
        out.extend(segments)
    return out


def _merge_same_user(segments: list[Segment]) -> list[Shift]:
    shifts: list[Shift] = []
    for start, end, user in segments:
        if shifts and shifts[-1].user_id == user and shifts[-1].end == start:
            shifts[-1] = Shift(shifts[-1].start, end, user)
        else:
            shifts.append(Shift(start, end, user))
    return shifts


def _timeline(
    schedule: Schedule, since: datetime, until: datetime
) -> list[tuple[datetime, datetime, int | None]]:
    """[since, until) cut into consecutive pieces, each with its winner (None: nobody on call).

    A sweep over every boundary of every layer and override: at each boundary the candidates
    that started are pushed on a heap ordered by precedence and expired ones are dropped from
    the top, so the cost grows with the number of boundaries, not with the length of time.
    """
    zone = zone_for(schedule.time_zone)
    # Precedence ranks: layers by level, then every override above every layer, higher id and
    # later position winning among overrides.
    items: list[tuple[datetime, datetime, int, int]] = []
    layers = sorted(schedule.layers, key=lambda layer: layer.level)
    for rank, layer in enumerate(layers):
        items.extend((s, e, rank, u) for s, e, u in _layer_segments(layer, zone, since, until))
    ordered = sorted(enumerate(schedule.overrides), key=lambda item: (item[1].id, item[0]))
    for rank, (_, override) in enumerate(ordered, start=len(layers)):
        start = max(since, ensure_utc(override.start))
        end = min(until, ensure_utc(override.end))
        if start < end:
            items.append((start, end, rank, override.user_id))
    items.sort(key=lambda item: item[0])

    bounds = {since, until}
    for start, end, _, _ in items:
        bounds.add(start)
        bounds.add(end)
    points = sorted(bounds)

    timeline: list[tuple[datetime, datetime, int | None]] = []
    heap: list[tuple[int, datetime, int]] = []
    i, count = 0, len(items)
    for here, there in itertools.pairwise(points):
        while i < count and items[i][0] <= here:
            heapq.heappush(heap, (-items[i][2], items[i][1], items[i][3]))
            i += 1
        while heap and heap[0][1] <= here:
            heapq.heappop(heap)
        user = heap[0][2] if heap else None
        if timeline and timeline[-1][2] == user:
            timeline[-1] = (timeline[-1][0], there, user)
        else:
            timeline.append((here, there, user))
    return timeline


def final_shifts(schedule: Schedule, *, since: datetime, until: datetime) -> list[Shift]:
    """Who is on call over [since, until), overrides and layers resolved, sorted by start."""
    since, until = validate_window(since, until)
    return [
        Shift(start, end, user)
        for start, end, user in _timeline(schedule, since, until)
        if user is not None
    ]


def gaps(schedule: Schedule, *, since: datetime, until: datetime) -> list[Gap]:
    """Stretches of [since, until) with nobody on call, sorted by start."""
    since, until = validate_window(since, until)
    return [
        Gap(start, end) for start, end, user in _timeline(schedule, since, until) if user is None
    ]


def layer_shifts(
    schedule: Schedule, *, level: int, since: datetime, until: datetime
) -> list[Shift]:
    """One layer's own shifts over [since, until), before overrides and other layers apply."""
    since, until = validate_window(since, until)
    for layer in schedule.layers:
        if layer.level == level:
            zone = zone_for(schedule.time_zone)
            return _merge_same_user(_layer_segments(layer, zone, since, until))
    raise ScheduleValidationError("level", f"the schedule has no layer at level {level}")


def on_call_at(schedule: Schedule, *, at: datetime) -> int | None:
    """The user on call at instant `at`, or None when nobody is (a gap)."""
    at = require_aware(at, "at")
    timeline = _timeline(schedule, at, at + timedelta(microseconds=1))
    return timeline[0][2]
