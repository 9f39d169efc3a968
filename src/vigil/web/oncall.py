"""On call: who is on call now, a two-week timeline per schedule, overrides and swaps, the load
report, and "my on-call" (my next shifts and my calendar feed)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from vigil.accounts import service as accounts
from vigil.errors import VigilError
from vigil.schedules import oncall
from vigil.schedules import service as schedules
from vigil.schedules.models import CalendarFeed
from vigil.schedules.schemas import OverrideCreate
from vigil.web.auth import Form, Responder, SignedIn, text
from vigil.web.incidents import first_error
from vigil.web.render import flash, page, redirect

router = APIRouter(include_in_schema=False)

WINDOW = timedelta(days=14)
LOAD_WINDOW = timedelta(days=30)
MY_WINDOW = timedelta(days=28)


def _bars(shifts: list[Any], since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Shifts as percentages of the window, for the SVG timeline (gaps have no user)."""
    span = (until - since).total_seconds()
    bars = []
    for shift in shifts:
        start = max(shift.start, since)
        end = min(shift.end, until)
        if end <= start:
            continue
        bars.append(
            {
                "x": round((start - since).total_seconds() / span * 100, 3),
                "width": round((end - start).total_seconds() / span * 100, 3),
                "user_id": shift.user_id,
                "start": start,
                "end": end,
            }
        )
    return bars


def _oncall_context(request: Request, now: datetime) -> dict[str, Any]:
    since, until = now, now + WINDOW
    with request.app.state.db.read_session() as session:
        users = accounts.list_users(session)
        rows = []
        for schedule in schedules.list_schedules(session):
            shifts = oncall.schedule_shifts(
                session, schedule=schedule, since=since, until=until, with_layers=False
            )
            rows.append(
                {
                    "schedule": schedule,
                    "bars": _bars(shifts.final, since, until),
                    "shifts": shifts.final,
                    "overrides": schedules.list_overrides(
                        session, schedule_id=schedule.id, since=now
                    ),
                }
            )
        on_call = oncall.on_call_at(session, at=now)
        load = oncall.load_report(session, since=now - LOAD_WINDOW, until=now, team_id=None)
    days = [since + timedelta(days=d) for d in range(15)]
    return {
        "on_call": on_call,
        "rows": rows,
        "users": users,
        "names": {u.id: u.name for u in users},
        "slots": {u.id: i % 6 for i, u in enumerate(users)},
        "load": load,
        "since": since,
        "until": until,
        "ticks": [{"x": round(i / 14 * 100, 3), "day": d} for i, d in enumerate(days)],
    }


@router.get("/oncall", response_class=HTMLResponse)
def oncall_page(request: Request, user: SignedIn) -> Response:
    context = _oncall_context(request, request.app.state.clock.now())
    return page(request, "oncall.html", context, user=user)


@router.post("/oncall/overrides", response_class=HTMLResponse)
def add_override(request: Request, user: Responder, form: Form) -> Response:
    """Someone covers a time range; times are read in the schedule's own time zone."""
    state = request.app.state
    values = {k: v for k, v in form.items() if k != "csrf" and isinstance(v, str)}
    schedule_id = text(form, "schedule_id")
    try:
        data = OverrideCreate(
            user_id=text(form, "user_id"),
            start=text(form, "start"),
            end=text(form, "end"),
            replaces_user_id=text(form, "replaces_user_id") or None,
            kind=text(form, "kind", "cover") or "cover",
            consent=text(form, "consent") == "on",
            note=text(form, "note"),
        )
        if not schedule_id.isdigit():
            raise VigilError("choose a schedule", field="schedule_id")
        with state.db.unit_of_work() as session:
            schedules.create_override(
                session,
                schedule_id=int(schedule_id),
                data=data,
                actor=schedules.Actor(id=user.id, role=user.role),
                now=state.clock.now(),
            )
    except ValidationError as exc:
        field, message = first_error(exc)
        errors = {field: message}
    except VigilError as exc:
        errors = {exc.field or "form": exc.message}
        if exc.status_code == 403:
            errors = {"form": exc.message}
    else:
        flash(request, "Override added.")
        return redirect("/oncall")
    context = _oncall_context(request, state.clock.now())
    context.update(errors=errors, values=values)
    return page(request, "oncall.html", context, user=user, status=422)


def _feed_url(base_url: str, feed: CalendarFeed) -> str:
    return f"{base_url.rstrip('/')}/ical/{feed.secret}.ics"


@router.get("/me/oncall", response_class=HTMLResponse)
def my_oncall(request: Request, user: SignedIn) -> Response:
    state = request.app.state
    now = state.clock.now()
    with state.db.read_session() as session:
        shifts = oncall.user_shifts(session, user=user, since=now, until=now + MY_WINDOW)
        names = {s.id: s.name for s in schedules.list_schedules(session)}
        feeds = list(
            session.scalars(
                sa.select(CalendarFeed)
                .where(CalendarFeed.user_id == user.id, CalendarFeed.revoked_at.is_(None))
                .order_by(CalendarFeed.id)
            )
        )
    base_url = state.settings.base_url
    return page(
        request,
        "my_oncall.html",
        {
            "shifts": shifts,
            "schedule_names": names,
            "feeds": [{"row": f, "url": _feed_url(base_url, f)} for f in feeds],
        },
        user=user,
    )


@router.post("/me/oncall/feed", response_class=HTMLResponse)
def create_my_feed(request: Request, user: SignedIn, _form: Form) -> Response:
    state = request.app.state
    with state.db.unit_of_work() as session:
        schedules.create_feed(session, user_id=user.id, now=state.clock.now())
    flash(request, "Your calendar feed is ready: subscribe to its URL in your calendar.")
    return redirect("/me/oncall")


@router.post("/me/oncall/feed/{feed_id}/revoke", response_class=HTMLResponse)
def revoke_my_feed(request: Request, feed_id: int, user: SignedIn, _form: Form) -> Response:
    state = request.app.state
    with state.db.unit_of_work() as session:
        feed = session.get(CalendarFeed, feed_id)
        if feed is not None and feed.user_id == user.id:
            schedules.revoke_feed(session, feed_id=feed_id, now=state.clock.now())
    flash(request, "Feed revoked: calendars polling it get nothing from now on.")
    return redirect("/me/oncall")
