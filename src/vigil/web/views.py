"""The home page: the incident list for someone signed in; otherwise what Vigil is and what to
do next. `templates` is the console's one autoescaping Jinja environment."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from vigil.web.render import redirect, session_of, templates

__all__ = ["router", "templates"]

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    if isinstance(session_of(request).get("uid"), int):
        return redirect("/incidents")
    return templates.TemplateResponse(
        request,
        "home.html",
        {
            "base_url": request.app.state.settings.base_url.rstrip("/"),
            "console": "session" in request.scope,
        },
    )
