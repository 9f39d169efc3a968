"""Sign in, sign out and change your password."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from vigil.errors import ValidationFailed
from vigil.web import auth
from vigil.web.auth import Form, SignedIn, WebUser, text
from vigil.web.render import flash, page, redirect

router = APIRouter(include_in_schema=False)


def _safe_next(target: str) -> str:
    """Only a path on this site: `next=https://evil.example` must not become an open redirect."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/incidents"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, user: WebUser, next: str = "/incidents") -> Response:
    if user is not None:
        return redirect(_safe_next(next))
    auth.ensure_csrf(request)
    return page(request, "login.html", {"next": _safe_next(next)}, user=None)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, form: Form) -> Response:
    email = text(form, "email").strip().lower()
    password = text(form, "password")
    next_path = _safe_next(text(form, "next", "/incidents"))
    state = request.app.state
    now = state.clock.now()
    address = request.client.host if request.client else "?"
    key = (email, address)
    throttle: auth.Throttle = state.web_throttle
    wait = throttle.retry_after(key, now)
    values = {"email": email}
    if wait is not None:
        response = page(
            request,
            "login.html",
            {
                "next": next_path,
                "values": values,
                "errors": {
                    "form": f"Too many failed attempts. Try again in {wait // 60 + 1} minutes."
                },
            },
            user=None,
            status=429,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    with state.db.read_session() as session:
        user = auth.find_by_email(session, email) if email else None
        ok = auth.verify_password(user, password)
        if user is not None:
            session.expunge(user)
    if not ok or user is None:
        throttle.fail(key, now)
        return page(
            request,
            "login.html",
            {
                "next": next_path,
                "values": values,
                "errors": {"form": "That email and password do not match an account."},
            },
            user=None,
            status=401,
        )
    throttle.clear(key)
    auth.sign_in(request, user)
    return redirect(next_path)


@router.post("/logout")
def logout(request: Request, _form: Form) -> Response:
    auth.sign_out(request)
    flash(request, "You are signed out.")
    return redirect("/login")


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, user: SignedIn) -> Response:
    return page(request, "account.html", {}, user=user)


@router.post("/account/password", response_class=HTMLResponse)
def change_password(request: Request, user: SignedIn, form: Form) -> Response:
    current = text(form, "current")
    new = text(form, "new")
    confirm = text(form, "confirm")
    errors: dict[str, str] = {}
    if not auth.verify_password(user, current):
        errors["current"] = "This is not your current password."
    try:
        auth.check_password_rules(new, field="new")
    except ValidationFailed as exc:
        errors["new"] = f"The new password is too weak: {exc.message}."
    if not errors and new != confirm:
        errors["confirm"] = "The two new passwords differ."
    if errors:
        return page(request, "account.html", {"errors": errors}, user=user, status=422)
    with request.app.state.db.unit_of_work() as session:
        auth.set_password(session, user_id=user.id, password=new)
        changed = session.get(type(user), user.id)
        assert changed is not None
        session.expunge(changed)
    # This session stays signed in; every other one is signed out by the new fingerprint.
    auth.sign_in(request, changed)
    flash(request, "Your password is changed. Other sessions are signed out.")
    return redirect("/account")
