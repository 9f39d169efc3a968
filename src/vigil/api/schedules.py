"""REST: schedules, layers, overrides, shifts, who is on call, load reports and calendar feeds."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from vigil.accounts import service as accounts
from vigil.accounts.models import Role
from vigil.api.deps import (
    Admin,
    AppSettings,
    CurrentUser,
    Now,
    PathId,
    ReadSession,
    Responder,
    WriteSession,
)
from vigil.api.errors import error_responses
from vigil.errors import Forbidden
from vigil.schedules import oncall
from vigil.schedules import service as schedules
from vigil.schedules.models import CalendarFeed, Schedule
from vigil.schedules.schemas import (
    NAIVE_NOTE,
    CalendarFeedRead,
    LayerCreate,
    LayerRead,
    LayerUpdate,
    LoadRow,
    OnCallEntry,
    OverrideCreate,
    OverrideRead,
    ScheduleCreate,
    ScheduleGaps,
    ScheduleRead,
    ScheduleUpdate,
    ShiftRead,
    ShiftsRead,
)

router = APIRouter(prefix="/api/v1", tags=["schedules"])
feeds = APIRouter(tags=["calendar feeds"])

Since = Annotated[datetime, Query(description=f"Window start. {NAIVE_NOTE}")]
Until = Annotated[
    datetime, Query(description=f"Window end (at most 2 years after since). {NAIVE_NOTE}")
]


def schedule_read(
    session: ReadSession | WriteSession, schedule: Schedule, now: datetime
) -> ScheduleRead:
    read = ScheduleRead.model_validate(schedule)
    read.layers = [
        schedules.layer_read(layer, version)
        for layer, version in schedules.current_versions(session, schedule_id=schedule.id, now=now)
    ]
    return read


def feed_read(feed: CalendarFeed, base_url: str) -> CalendarFeedRead:
    url = f"{base_url.rstrip('/')}/ical/{feed.secret}.ics"
    return CalendarFeedRead(
        id=feed.id,
        url=url,
        webcal_url="webcal://" + url.split("://", 1)[1],
        created_at=feed.created_at,
    )


@router.get("/schedules", response_model=list[ScheduleRead], responses=error_responses(401))
def list_schedules(
    session: ReadSession, _user: CurrentUser, now: Now, team: int | None = None
) -> list[ScheduleRead]:
    return [schedule_read(session, s, now) for s in schedules.list_schedules(session, team_id=team)]


@router.post(
    "/schedules",
    response_model=ScheduleRead,
    status_code=201,
    responses=error_responses(401, 403, 409, 422),
)
def create_schedule(
    body: ScheduleCreate, session: WriteSession, user: Admin, now: Now
) -> ScheduleRead:
    """Create a schedule, optionally with its layers (bottom first: later layers win)."""
    schedule = schedules.create_schedule(session, data=body, actor_id=user.id, now=now)
    read = schedule_read(session, schedule, now)
    session.commit()
    return read


@router.get(
    "/schedules/{schedule_id}", response_model=ScheduleRead, responses=error_responses(401, 404)
)
def get_schedule(
    schedule_id: PathId, session: ReadSession, _user: CurrentUser, now: Now
) -> ScheduleRead:
    return schedule_read(session, schedules.get_schedule(session, schedule_id=schedule_id), now)


@router.patch(
    "/schedules/{schedule_id}",
    response_model=ScheduleRead,
    responses=error_responses(401, 403, 404, 409, 422),
)
def update_schedule(
    schedule_id: PathId, body: ScheduleUpdate, session: WriteSession, _user: Admin, now: Now
) -> ScheduleRead:
    schedule = schedules.update_schedule(session, schedule_id=schedule_id, data=body, now=now)
    read = schedule_read(session, schedule, now)
    session.commit()
    return read


@router.delete(
    "/schedules/{schedule_id}", status_code=204, responses=error_responses(401, 403, 404)
)
def delete_schedule(schedule_id: PathId, session: WriteSession, _user: Admin) -> Response:
    schedules.delete_schedule(session, schedule_id=schedule_id)
    session.commit()
    return Response(status_code=204)


@router.post(
    "/schedules/{schedule_id}/layers",
    response_model=LayerRead,
    status_code=201,
    responses=error_responses(401, 403, 404, 422),
)
def add_layer(
    schedule_id: PathId, body: LayerCreate, session: WriteSession, user: Admin, now: Now
) -> LayerRead:
    """Add a layer on top: it wins over the existing ones wherever it has someone on call."""
    layer = schedules.add_layer(
        session, schedule_id=schedule_id, data=body, actor_id=user.id, now=now
    )
    read = _layer_read(session, schedule_id, layer.id, now)
    session.commit()
    return read


def _layer_read(
    session: ReadSession | WriteSession, schedule_id: int, layer_id: int, now: datetime
) -> LayerRead:
    for layer, version in schedules.current_versions(session, schedule_id=schedule_id, now=now):
        if layer.id == layer_id:
            return schedules.layer_read(layer, version)
    raise AssertionError("a live layer always has a version")


@router.patch(
    "/schedules/{schedule_id}/layers/{layer_id}",
    response_model=LayerRead,
    responses=error_responses(401, 403, 404, 422),
)
def update_layer(
    schedule_id: PathId,
    layer_id: PathId,
    body: LayerUpdate,
    session: WriteSession,
    user: Admin,
    now: Now,
) -> LayerRead:
    """Change a layer from `effective_from` (default now) on; earlier shifts stay as they were."""
    schedules.update_layer(
        session, schedule_id=schedule_id, layer_id=layer_id, data=body, actor_id=user.id, now=now
    )
    read = _layer_read(session, schedule_id, layer_id, now)
    session.commit()
    return read


@router.delete(
    "/schedules/{schedule_id}/layers/{layer_id}",
    status_code=204,
    responses=error_responses(401, 403, 404),
)
def delete_layer(
    schedule_id: PathId, layer_id: PathId, session: WriteSession, _user: Admin, now: Now
) -> Response:
    """End a layer now; its past shifts stay in the schedule's history."""
    schedules.delete_layer(session, schedule_id=schedule_id, layer_id=layer_id, now=now)
    session.commit()
    return Response(status_code=204)


@router.get(
    "/schedules/{schedule_id}/overrides",
    response_model=list[OverrideRead],
    responses=error_responses(401, 404),
)
def list_overrides(
    schedule_id: PathId, session: ReadSession, _user: CurrentUser
) -> list[OverrideRead]:
    schedules.get_schedule(session, schedule_id=schedule_id)
    return [
        OverrideRead.model_validate(o)
        for o in schedules.list_overrides(session, schedule_id=schedule_id)
    ]


@router.post(
    "/schedules/{schedule_id}/overrides",
    response_model=OverrideRead,
    status_code=201,
    responses=error_responses(401, 403, 404, 422),
)
def create_override(
    schedule_id: PathId, body: OverrideCreate, session: WriteSession, user: Responder, now: Now
) -> OverrideRead:
    """Someone covers a time range. Members override only their own shifts, with consent."""
    override = schedules.create_override(
        session,
        schedule_id=schedule_id,
        data=body,
        actor=schedules.Actor(id=user.id, role=user.role),
        now=now,
    )
    read = OverrideRead.model_validate(override)
    session.commit()
    return read


@router.delete(
    "/schedules/{schedule_id}/overrides/{override_id}",
    status_code=204,
    responses=error_responses(401, 403, 404),
)
def delete_override(
    schedule_id: PathId, override_id: PathId, session: WriteSession, user: Responder, now: Now
) -> Response:
    schedules.delete_override(
        session,
        schedule_id=schedule_id,
        override_id=override_id,
        actor=schedules.Actor(id=user.id, role=user.role),
        now=now,
    )
    session.commit()
    return Response(status_code=204)


@router.get(
    "/schedules/{schedule_id}/shifts",
    response_model=ShiftsRead,
    responses=error_responses(401, 404, 422),
)
def schedule_shifts(
    schedule_id: PathId,
    session: ReadSession,
    _user: CurrentUser,
    since: Since,
    until: Until,
    layers: bool = False,
) -> ShiftsRead:
    """The final schedule in a window (overrides, then layers from the top; gaps explicit)."""
    schedule = schedules.get_schedule(session, schedule_id=schedule_id)
    return oncall.schedule_shifts(
        session, schedule=schedule, since=since, until=until, with_layers=layers
    )


@router.get("/oncall", response_model=list[OnCallEntry], responses=error_responses(401, 422))
def who_is_on_call(
    session: ReadSession,
    _user: CurrentUser,
    now: Now,
    at: Annotated[
        datetime | None, Query(description="Default now. Without an offset: UTC.")
    ] = None,
) -> list[OnCallEntry]:
    """Everyone on call at an instant, by schedule."""
    return oncall.on_call_at(session, at=at or now)


@router.get(
    "/users/{user_id}/shifts",
    response_model=list[ShiftRead],
    responses=error_responses(401, 404, 422),
)
def user_shifts(
    user_id: PathId, session: ReadSession, _user: CurrentUser, since: Since, until: Until
) -> list[ShiftRead]:
    """A user's shifts on every schedule (naive times read in the user's time zone)."""
    user = accounts.get_user(session, user_id=user_id)
    return oncall.user_shifts(session, user=user, since=since, until=until)


@router.get(
    "/reports/oncall-load", response_model=list[LoadRow], responses=error_responses(401, 422)
)
def oncall_load(
    session: ReadSession,
    _user: CurrentUser,
    since: Annotated[datetime, Query(description="Without an offset: UTC.")],
    until: Annotated[datetime, Query(description="Without an offset: UTC.")],
    team: int | None = None,
) -> list[LoadRow]:
    """Who carries the load: hours on call, off-hours (outside 08:00–20:00 local), weekends."""
    return oncall.load_report(session, since=since, until=until, team_id=team)


@router.get("/reports/gaps", response_model=list[ScheduleGaps], responses=error_responses(401))
def gaps(session: ReadSession, _user: CurrentUser, now: Now) -> list[ScheduleGaps]:
    """Per schedule, the times in the next 14 days when nobody is on call."""
    return oncall.gap_report(session, now=now)


@router.post(
    "/schedules/{schedule_id}/calendar-feeds",
    response_model=CalendarFeedRead,
    status_code=201,
    responses=error_responses(401, 404),
)
def create_schedule_feed(
    schedule_id: PathId, session: WriteSession, _user: CurrentUser, now: Now, settings: AppSettings
) -> CalendarFeedRead:
    """A secret iCalendar URL for the schedule; anyone with the URL can read the shifts."""
    schedules.get_schedule(session, schedule_id=schedule_id)
    feed = schedules.create_feed(session, schedule_id=schedule_id, now=now)
    read = feed_read(feed, settings.base_url)
    session.commit()
    return read


@router.post(
    "/users/{user_id}/calendar-feeds",
    response_model=CalendarFeedRead,
    status_code=201,
    responses=error_responses(401, 403, 404),
)
def create_user_feed(
    user_id: PathId, session: WriteSession, user: CurrentUser, now: Now, settings: AppSettings
) -> CalendarFeedRead:
    """A secret iCalendar URL of one user's shifts (your own, or anyone's for admins)."""
    if user.id != user_id and user.role != Role.ADMIN:
        raise Forbidden("you can only make a calendar feed of your own shifts")
    accounts.get_user(session, user_id=user_id)
    feed = schedules.create_feed(session, user_id=user_id, now=now)
    read = feed_read(feed, settings.base_url)
    session.commit()
    return read


@router.delete(
    "/calendar-feeds/{feed_id}", status_code=204, responses=error_responses(401, 403, 404)
)
def revoke_feed(feed_id: PathId, session: WriteSession, user: CurrentUser, now: Now) -> Response:
    """Revoke a feed URL: calendars polling it get 404 from now on."""
    feed = schedules.get_feed(session, feed_id=feed_id)
    if user.role != Role.ADMIN and feed.user_id != user.id:
        raise Forbidden("only admins can revoke other people's feeds")
    schedules.revoke_feed(session, feed_id=feed_id, now=now)
    session.commit()
    return Response(status_code=204)


@feeds.get(
    "/ical/{secret}.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}, 404: {"description": "Unknown or revoked"}},
)
def calendar_feed(secret: str, request: Request, session: ReadSession, now: Now) -> Response:
    """The iCalendar feed behind a secret URL: past 30 days and next 180 days of shifts."""
    feed = schedules.feed_for_secret(session, secret=secret)
    body = oncall.render_feed(session, feed=feed, now=now, url=str(request.url))
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, max-age=300"},
    )
