"""iCalendar (RFC 5545) feeds of on-call shifts that Google, Apple and Thunderbird subscribe to.

Each rendered shift (after overrides) is its own VEVENT: recurrences cannot express overrides.
UIDs are a hash of schedule, user and start, so a calendar updates an event instead of duplicating
it when the feed is fetched again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from icalendar import Calendar, Event

PRODID = "-//Vigil//On-call schedules//EN"


@dataclass(frozen=True, slots=True)
class FeedShift:
    schedule_id: int
    schedule_name: str
    user_id: int
    user_name: str
    start: datetime
    end: datetime


def shift_uid(shift: FeedShift, host: str) -> str:
    digest = hashlib.sha256(
        f"{shift.schedule_id}:{shift.user_id}:{shift.start.isoformat()}".encode()
    ).hexdigest()[:32]
    return f"{digest}@{host}"


def render_calendar(
    *, name: str, shifts: Iterable[FeedShift], now: datetime, host: str, url: str
) -> bytes:
    """The feed as bytes, ready to serve as `text/calendar; charset=utf-8`."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-published-ttl", "PT1H")
    for shift in shifts:
        event = Event()
        event.add("uid", shift_uid(shift, host))
        event.add("dtstamp", now)
        event.add("dtstart", shift.start)
        event.add("dtend", shift.end)
        event.add("summary", f"On call: {shift.user_name} — {shift.schedule_name}")
        event.add(
            "description", f"{shift.user_name} is on call for the {shift.schedule_name} schedule."
        )
        event.add("url", url)
        event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    return calendar.to_ical()
