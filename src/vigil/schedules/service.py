"""Schedules, layers (with dated versions), overrides and calendar feeds: functions over a session
that never commit. On-call answers come from the pure calculator in `vigil.schedules.calculator`."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vigil.accounts.models import Role, Team, TeamMembership, User
from vigil.errors import Conflict, Forbidden, NotFound, ValidationFailed
from vigil.schedules.models import CalendarFeed, LayerVersion, Override, Schedule, ScheduleLayer
from vigil.schedules.schemas import (
    WEEKDAYS,
    LayerCreate,
    LayerRead,
    LayerUpdate,
    OverrideCreate,
    Restriction,
    Rotation,
    RotationUnit,
    ScheduleCreate,
    ScheduleUpdate,
    weekday_index,
)

MAX_OVERRIDE = timedelta(days=90)


def localize(value: datetime, zone: str) -> datetime:
    """Aware times stay as they are; naive ones are read in the schedule's time zone."""
    if value.tzinfo is not None:
        return value
    return value.replace(tzinfo=ZoneInfo(zone))


def touch(schedule: Schedule, now: datetime) -> None:
    """Mark the schedule changed, so cached on-call answers are recomputed."""
    schedule.updated_at = now
    schedule.revision = uuid.uuid4().hex


def get_schedule(session: Session, *, schedule_id: int) -> Schedule:
    schedule = session.get(Schedule, schedule_id)
    if schedule is None:
        raise NotFound(f"schedule {schedule_id} not found", field="schedule_id")
    return schedule


def list_schedules(session: Session, *, team_id: int | None = None) -> list[Schedule]:
    query = sa.select(Schedule).order_by(Schedule.name)
    if team_id is not None:
        query = query.where(Schedule.team_id == team_id)
    return list(session.scalars(query))


def create_schedule(
    session: Session, *, data: ScheduleCreate, actor_id: int | None, now: datetime
) -> Schedule:
    """Create a schedule with its layers (bottom first); all of it, or nothing."""
    _ensure_free_name(session, data.name)
    _ensure_team(session, data.team_id)
    schedule = Schedule(
        name=data.name,
        team_id=data.team_id,
        time_zone=data.time_zone,
        description=data.description,
        created_at=now,
        updated_at=now,
    )
    session.add(schedule)
    session.flush()
    for index, layer in enumerate(data.layers):
        add_layer(
            session,
            schedule_id=schedule.id,
            data=layer,
            actor_id=actor_id,
            now=now,
            field_prefix=f"layers[{index}].",
        )
    return schedule


def update_schedule(
    session: Session, *, schedule_id: int, data: ScheduleUpdate, now: datetime
) -> Schedule:
    schedule = get_schedule(session, schedule_id=schedule_id)
    changes = data.model_dump(exclude_unset=True)
    for required in ("name", "time_zone"):
        if required in changes and changes[required] is None:
            raise ValidationFailed(f"{required} cannot be null", field=required)
    if "name" in changes and changes["name"] != schedule.name:
        _ensure_free_name(session, changes["name"])
    if "team_id" in changes:
        _ensure_team(session, changes["team_id"])
    for name, value in changes.items():
        if value is not None or name == "team_id":
            setattr(schedule, name, value)
    touch(schedule, now)
    session.flush()
    return schedule


def delete_schedule(session: Session, *, schedule_id: int) -> None:
    session.delete(get_schedule(session, schedule_id=schedule_id))
    session.flush()


def _ensure_free_name(session: Session, name: str) -> None:
    if session.scalar(sa.select(Schedule.id).where(Schedule.name == name)) is not None:
        raise Conflict(f"a schedule named {name!r} already exists", field="name")


def _ensure_team(session: Session, team_id: int | None) -> None:
    if team_id is not None and session.get(Team, team_id) is None:
        raise ValidationFailed(f"team {team_id} does not exist", field="team_id")


def _ensure_users(session: Session, user_ids: list[int], field: str) -> None:
    if not user_ids:
        raise ValidationFailed(f"{field}: a layer needs at least one participant", field=field)
    known = set(session.scalars(sa.select(User.id).where(User.id.in_(set(user_ids)))))
    for index, user_id in enumerate(user_ids):
        if user_id not in known:
            raise ValidationFailed(
                f"{field}[{index}]: user {user_id} does not exist", field=f"{field}[{index}]"
            )


def _rotation_fields(
    rotation: Rotation | str, handoff_day: int | str | None, start: datetime, zone: str
) -> dict[str, object]:
    if rotation == "daily":
        unit, length = RotationUnit.DAYS, 1
    elif rotation == "weekly":
        unit, length = RotationUnit.WEEKS, 1
    else:
        assert isinstance(rotation, Rotation)
        unit, length = rotation.unit, rotation.length
    if length <= 0:
        raise ValidationFailed(
            "rotation.length: must be positive (N hours, days or weeks)", field="rotation.length"
        )
    weekday: int | None = None
    if unit == RotationUnit.WEEKS:
        weekday = (
            weekday_index(str(handoff_day))
            if handoff_day is not None
            else start.astimezone(ZoneInfo(zone)).weekday()
        )
    return {"rotation_unit": unit.value, "rotation_length": length, "handoff_weekday": weekday}


def add_layer(
    session: Session,
    *,
    schedule_id: int,
    data: LayerCreate,
    actor_id: int | None,
    now: datetime,
    field_prefix: str = "",
) -> ScheduleLayer:
    """Add a layer on top of the schedule's existing ones."""
    schedule = get_schedule(session, schedule_id=schedule_id)
    _ensure_users(session, data.participants, f"{field_prefix}participants")
    start = localize(data.start, schedule.time_zone)
    end = localize(data.end, schedule.time_zone) if data.end else None
    if end is not None and end <= start:
        raise ValidationFailed(
            f"{field_prefix}end: must be after start", field=f"{field_prefix}end"
        )
    try:
        rotation = _rotation_fields(data.rotation, data.handoff_day, start, schedule.time_zone)
    except ValidationFailed as exc:
        exc.field = f"{field_prefix}{exc.field}"
        raise
    top = session.scalar(
        sa.select(sa.func.max(ScheduleLayer.level)).where(
            ScheduleLayer.schedule_id == schedule_id, ScheduleLayer.deleted_at.is_(None)
        )
    )
    layer = ScheduleLayer(
        schedule_id=schedule_id, name=data.name, level=(top or 0) + 1, created_at=now
    )
    session.add(layer)
    session.flush()
    session.add(
        LayerVersion(
            layer_id=layer.id,
            effective_from=start,
            effective_until=None,
            start=start,
            end=end,
            participants=list(data.participants),
            handoff_time=data.handoff_time,
            restrictions=[r.model_dump(exclude_none=True) for r in data.restrictions],
            created_at=now,
            created_by_id=actor_id,
            **rotation,
        )
    )
    touch(schedule, now)
    session.flush()
    return layer


def _layer(session: Session, schedule_id: int, layer_id: int) -> ScheduleLayer:
    layer = session.get(ScheduleLayer, layer_id)
    if layer is None or layer.schedule_id != schedule_id or layer.deleted_at is not None:
        raise NotFound(f"layer {layer_id} not found on schedule {schedule_id}", field="layer_id")
    return layer


def layer_versions(session: Session, *, layer_ids: list[int]) -> list[LayerVersion]:
    return list(
        session.scalars(
            sa.select(LayerVersion)
            .where(LayerVersion.layer_id.in_(layer_ids))
            .order_by(LayerVersion.layer_id, LayerVersion.effective_from, LayerVersion.id)
        )
    )


def update_layer(
    session: Session,
    *,
    schedule_id: int,
    layer_id: int,
    data: LayerUpdate,
    actor_id: int | None,
    now: datetime,
) -> ScheduleLayer:
    """Change a layer from `effective_from` (default now) on; what was before stays as it was."""
    schedule = get_schedule(session, schedule_id=schedule_id)
    layer = _layer(session, schedule_id, layer_id)
    effective = localize(data.effective_from, schedule.time_zone) if data.effective_from else now
    if effective < now - timedelta(minutes=1):
        raise ValidationFailed(
            "effective_from: changes apply from now on; the past is never rewritten",
            field="effective_from",
        )
    versions = layer_versions(session, layer_ids=[layer_id])
    current = next(
        (
            v
            for v in reversed(versions)
            if v.effective_from <= effective
            and (v.effective_until is None or effective < v.effective_until)
        ),
        versions[-1],
    )
    if data.participants is not None:
        _ensure_users(session, data.participants, "participants")
    settings = {
        "start": current.start,
        "end": current.end,
        "participants": list(current.participants),
        "handoff_time": current.handoff_time,
        "restrictions": list(current.restrictions),
        "rotation_unit": current.rotation_unit,
        "rotation_length": current.rotation_length,
        "handoff_weekday": current.handoff_weekday,
    }
    if data.participants is not None:
        settings["participants"] = list(data.participants)
    if data.handoff_time is not None:
        settings["handoff_time"] = data.handoff_time
    if data.restrictions is not None:
        settings["restrictions"] = [r.model_dump(exclude_none=True) for r in data.restrictions]
    if data.end is not None:
        end = localize(data.end, schedule.time_zone)
        if end <= current.start:
            raise ValidationFailed("end: must be after the layer's start", field="end")
        settings["end"] = end
    if data.rotation is not None or data.handoff_day is not None:
        rotation = data.rotation
        if rotation is None:
            rotation = Rotation(
                unit=RotationUnit(current.rotation_unit), length=current.rotation_length
            )
        settings.update(
            _rotation_fields(rotation, data.handoff_day, current.start, schedule.time_zone)
        )
        # A changed rotation starts afresh at the change, with the first participant.
        settings["start"] = max(effective, current.start)
    if data.name is not None:
        layer.name = data.name
    # Versions that would have started later are replaced by this one.
    for version in versions:
        if version.effective_from >= effective and version is not current:
            session.delete(version)
    if current.effective_from >= effective:
        session.delete(current)
        effective = current.effective_from if current.effective_from > effective else effective
    else:
        current.effective_until = effective
    session.add(
        LayerVersion(
            layer_id=layer_id,
            effective_from=effective,
            effective_until=None,
            created_at=now,
            created_by_id=actor_id,
            **settings,
        )
    )
    touch(schedule, now)
    session.flush()
    return layer


def delete_layer(session: Session, *, schedule_id: int, layer_id: int, now: datetime) -> None:
    """End a layer now; its past shifts stay in the schedule's history."""
    layer = _layer(session, schedule_id, layer_id)
    touch(get_schedule(session, schedule_id=schedule_id), now)
    for version in layer_versions(session, layer_ids=[layer_id]):
        if version.effective_from >= now:
            session.delete(version)
        elif version.effective_until is None or version.effective_until > now:
            version.effective_until = now
    layer.deleted_at = now
    session.flush()


def layers_of(
    session: Session, *, schedule_id: int, include_deleted: bool = False
) -> list[ScheduleLayer]:
    query = (
        sa.select(ScheduleLayer)
        .where(ScheduleLayer.schedule_id == schedule_id)
        .order_by(ScheduleLayer.level)
    )
    if not include_deleted:
        query = query.where(ScheduleLayer.deleted_at.is_(None))
    return list(session.scalars(query))


def layer_read(layer: ScheduleLayer, version: LayerVersion) -> LayerRead:
    return LayerRead(
        id=layer.id,
        name=layer.name,
        level=layer.level,
        start=version.start,
        end=version.end,
        participants=list(version.participants),
        rotation=Rotation(unit=RotationUnit(version.rotation_unit), length=version.rotation_length),
        handoff_time=version.handoff_time,
        handoff_day=(
            WEEKDAYS[version.handoff_weekday] if version.handoff_weekday is not None else None
        ),
        restrictions=[Restriction.model_validate(r) for r in version.restrictions],
        effective_from=version.effective_from,
    )


def current_versions(
    session: Session, *, schedule_id: int, now: datetime
) -> list[tuple[ScheduleLayer, LayerVersion]]:
    """Each live layer with the version in force now (or its first future one)."""
    layers = layers_of(session, schedule_id=schedule_id)
    by_layer: dict[int, list[LayerVersion]] = {}
    for version in layer_versions(session, layer_ids=[layer.id for layer in layers]):
        by_layer.setdefault(version.layer_id, []).append(version)
    result = []
    for layer in layers:
        versions = by_layer.get(layer.id, [])
        live = [v for v in versions if v.effective_until is None or v.effective_until > now]
        chosen = next((v for v in live if v.effective_from <= now), live[0] if live else None)
        if chosen is not None:
            result.append((layer, chosen))
    return result


@dataclass(frozen=True, slots=True)
class Actor:
    id: int
    role: str


def create_override(
    session: Session, *, schedule_id: int, data: OverrideCreate, actor: Actor, now: datetime
) -> Override:
    """Admins override anyone; members only their own shifts, with the other member's consent."""
    schedule = get_schedule(session, schedule_id=schedule_id)
    start = localize(data.start, schedule.time_zone)
    end = localize(data.end, schedule.time_zone)
    if end <= start:
        raise ValidationFailed("end: must be after start", field="end")
    if end - start > MAX_OVERRIDE:
        raise ValidationFailed("end: an override lasts at most 90 days", field="end")
    if session.get(User, data.user_id) is None:
        raise ValidationFailed(f"user {data.user_id} does not exist", field="user_id")
    if data.replaces_user_id is not None and session.get(User, data.replaces_user_id) is None:
        raise ValidationFailed(
            f"user {data.replaces_user_id} does not exist", field="replaces_user_id"
        )
    consent_by: int | None = None
    if actor.role != Role.ADMIN:
        if actor.role == Role.OBSERVER:
            raise Forbidden("observers cannot change schedules")
        involved = {data.user_id, data.replaces_user_id}
        if actor.id not in involved:
            raise Forbidden("members can only override their own shifts; ask an admin")
        other = data.replaces_user_id if actor.id == data.user_id else data.user_id
        if other is not None and other != actor.id:
            if not data.consent:
                raise ValidationFailed(
                    "consent: the other member must agree to a swap or cover", field="consent"
                )
            consent_by = other
    override = Override(
        schedule_id=schedule_id,
        user_id=data.user_id,
        start=start,
        end=end,
        kind=data.kind,
        replaces_user_id=data.replaces_user_id,
        consent_by_id=consent_by,
        note=data.note,
        created_at=now,
        created_by_id=actor.id,
    )
    session.add(override)
    touch(schedule, now)
    session.flush()
    return override


def list_overrides(
    session: Session,
    *,
    schedule_id: int,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Override]:
    query = sa.select(Override).where(Override.schedule_id == schedule_id)
    if since is not None:
        query = query.where(Override.end > since)
    if until is not None:
        query = query.where(Override.start < until)
    return list(session.scalars(query.order_by(Override.id)))


def delete_override(
    session: Session, *, schedule_id: int, override_id: int, actor: Actor, now: datetime
) -> None:
    override = session.get(Override, override_id)
    if override is None or override.schedule_id != schedule_id:
        raise NotFound(f"override {override_id} not found", field="override_id")
    if actor.role != Role.ADMIN and actor.id not in (override.user_id, override.created_by_id):
        raise Forbidden("only admins can delete other members' overrides")
    touch(get_schedule(session, schedule_id=schedule_id), now)
    session.delete(override)
    session.flush()


def create_feed(
    session: Session, *, schedule_id: int | None = None, user_id: int | None = None, now: datetime
) -> CalendarFeed:
    """A new secret calendar URL for a schedule or a user."""
    feed = CalendarFeed(
        secret=secrets.token_urlsafe(32), schedule_id=schedule_id, user_id=user_id, created_at=now
    )
    session.add(feed)
    session.flush()
    return feed


def get_feed(session: Session, *, feed_id: int) -> CalendarFeed:
    feed = session.get(CalendarFeed, feed_id)
    if feed is None:
        raise NotFound(f"calendar feed {feed_id} not found", field="feed_id")
    return feed


def revoke_feed(session: Session, *, feed_id: int, now: datetime) -> CalendarFeed:
    feed = get_feed(session, feed_id=feed_id)
    if feed.revoked_at is None:
        feed.revoked_at = now
    session.flush()
    return feed


def feed_for_secret(session: Session, *, secret: str) -> CalendarFeed:
    feed = session.scalar(
        sa.select(CalendarFeed).where(
            CalendarFeed.secret == secret, CalendarFeed.revoked_at.is_(None)
        )
    )
    if feed is None:
        raise NotFound("unknown or revoked calendar feed", field="secret")
    return feed


def schedules_blocking_team_removal(
    session: Session, *, user_id: int, team_ids: list[int], now: datetime
) -> list[str]:
    """Names of the given teams' schedules where the user is still in a current or future layer."""
    if not team_ids:
        return []
    rows = session.execute(
        sa.select(Schedule.name, LayerVersion.participants)
        .join(ScheduleLayer, ScheduleLayer.schedule_id == Schedule.id)
        .join(LayerVersion, LayerVersion.layer_id == ScheduleLayer.id)
        .where(
            Schedule.team_id.in_(team_ids),
            ScheduleLayer.deleted_at.is_(None),
            sa.or_(LayerVersion.effective_until.is_(None), LayerVersion.effective_until > now),
        )
    ).all()
    return sorted({name for name, participants in rows if user_id in participants})


def ensure_can_leave_teams(
    session: Session, *, user_id: int, new_team_ids: list[int] | None, now: datetime
) -> None:
    """Refuse to take a user out of a team while they still rotate in its schedules."""
    if new_team_ids is None:
        return
    current = set(
        session.scalars(sa.select(TeamMembership.team_id).where(TeamMembership.user_id == user_id))
    )
    leaving = sorted(current - set(new_team_ids))
    blocking = schedules_blocking_team_removal(session, user_id=user_id, team_ids=leaving, now=now)
    if blocking:
        raise Conflict(
            f"user {user_id} is still in a layer of: {', '.join(blocking)}; "
            "remove them from those layers first",
            field="team_ids",
            schedules=blocking,
        )
