"""Installs the console on the ASGI app: sessions, static files, the HTML error pages and the
routers of every page."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from vigil.web import account, incidents, oncall, policies, services, users
from vigil.web.auth import Refused, SignInRequired, Throttle
from vigil.web.render import page

SESSION_COOKIE = "vigil_session"
SESSION_HOURS = 12


def install(app: FastAPI) -> None:
    """Add the console to `app` (before it starts); calling it twice changes nothing."""
    if getattr(app.state, "web_installed", False):
        return
    app.state.web_installed = True
    settings = app.state.settings
    app.state.web_throttle = Throttle()
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.resolved_secret_key() + ":web-session",
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_HOURS * 3600,
        same_site="lax",
        https_only=settings.base_url.startswith("https://"),
    )
    app.mount(
        "/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static"
    )
    app.add_exception_handler(SignInRequired, _sign_in_first)
    app.add_exception_handler(Refused, _refused)
    for module in (account, incidents, services, oncall, policies, users):
        app.include_router(module.router)


async def _sign_in_first(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", status_code=303)


async def _refused(request: Request, exc: Exception) -> HTMLResponse:
    assert isinstance(exc, Refused)
    return page(
        request,
        "refused.html",
        {"title": exc.title, "message": exc.message},
        user=None,
        status=exc.status,
    )
