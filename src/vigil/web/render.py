"""Rendering for the console: one autoescaping Jinja environment, time formatting in the
reader's zone, flash messages, and the security headers every page carries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse, RedirectResponse

from vigil.accounts.models import User

_HERE = Path(__file__).parent
# Autoescape everything, whatever the file name: alert summaries and labels are untrusted.
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
    autoescape=True,
)
templates = Jinja2Templates(env=_env)

# Our pages load only our own script and styles; inline script and style are refused.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def session_of(request: Request) -> dict[str, Any]:
    """The signed session, or an empty dict when the session middleware is not installed."""
    if "session" not in request.scope:
        return {}
    session: dict[str, Any] = request.session
    return session


def flash(request: Request, message: str) -> None:
    """A one-line message shown (as a status) on the next page."""
    session_of(request)["flash"] = message


def localtime(value: datetime | None, zone: str = "UTC", fmt: str = "%a %d %b %H:%M") -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(ZoneInfo(zone)).strftime(fmt)


def duration(delta: timedelta) -> str:
    """`3d 4h`, `2h 05m`, `7m`: short enough for a phone header."""
    seconds = max(int(delta.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m"


def iso(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


_env.filters["localtime"] = localtime
_env.filters["duration"] = duration
_env.filters["iso"] = iso


def page(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    user: User | None,
    status: int = 200,
) -> HTMLResponse:
    """A full page or fragment with the reader, their CSRF token and any flash message."""
    session = session_of(request)
    base = {
        "me": user,
        "tz": user.time_zone if user else "UTC",
        "csrf": session.get("csrf", ""),
        "flash": session.pop("flash", None),
        "now": request.app.state.clock.now(),
        "path": request.url.path,
        "can_act": user is not None and user.role in ("admin", "responder"),
        "is_admin": user is not None and user.role == "admin",
        "errors": {},
        "values": {},
    }
    base.update(context)
    response = templates.TemplateResponse(
        request, name, base, status_code=status, headers=SECURITY_HEADERS
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def redirect(url: str) -> RedirectResponse:
    """POST-redirect-GET: a reload never repeats the action."""
    return RedirectResponse(url, status_code=303)
