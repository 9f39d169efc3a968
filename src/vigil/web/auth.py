"""Signing in to the console: argon2 password hashes, the signed session cookie, CSRF tokens on
every form, and throttling of repeated failed sign-ins.

The session (Starlette's SessionMiddleware: signed, HttpOnly, SameSite=Lax) holds the user id,
a fingerprint of their password hash — so changing the password signs out every other
session — and the CSRF token that each form echoes back.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from vigil.accounts.models import Role, User
from vigil.errors import NotFound, ValidationFailed
from vigil.web.render import session_of

MIN_PASSWORD = 8
MAX_PASSWORD = 1024
THROTTLE_ATTEMPTS = 5
THROTTLE_WINDOW = timedelta(minutes=15)


class Hashing:
    """argon2-cffi's recommended parameters; tests swap in cheaper ones (still argon2)."""

    hasher = PasswordHasher()
    _dummy: tuple[PasswordHasher, str] | None = None

    @classmethod
    def dummy_hash(cls) -> str:
        """Verifying against this when the email is unknown takes as long as a real check, so
        the answer time does not tell whether an address has an account."""
        if cls._dummy is None or cls._dummy[0] is not cls.hasher:
            cls._dummy = (cls.hasher, cls.hasher.hash(secrets.token_urlsafe(16)))
        return cls._dummy[1]


class SignInRequired(Exception):
    """Raised by page dependencies when nobody is signed in: answered with a redirect."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class Refused(Exception):
    """An HTML refusal (403 for roles and CSRF, 404, 429): rendered as a short page."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


def hash_password(password: str) -> str:
    return Hashing.hasher.hash(password)


def check_password_rules(password: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(f"use at least {MIN_PASSWORD} characters", field=field)
    if len(password) > MAX_PASSWORD:
        raise ValidationFailed(f"use at most {MAX_PASSWORD} characters", field=field)


def set_password(session: Session, *, user_id: int, password: str) -> None:
    """Give a user a console password (argon2); the caller commits. Signs out their sessions."""
    check_password_rules(password)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found", field="user_id")
    user.password_hash = hash_password(password)
    session.flush()


def verify_password(user: User | None, password: str) -> bool:
    """Whether the password matches; unknown users and users without a password never match."""
    stored = user.password_hash if user is not None else None
    try:
        return (
            Hashing.hasher.verify(stored or Hashing.dummy_hash(), password) and stored is not None
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def find_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def fingerprint(user: User) -> str:
    """A short digest of the password hash: a session stays valid only while it matches."""
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16]


class Throttle:
    """Failed sign-ins per (email, address) in a sliding window, in this process's memory.

    Several `vigil serve` processes each count their own failures, so the real limit is the
    limit times the number of processes: still enough to stop password guessing."""

    def __init__(
        self, attempts: int = THROTTLE_ATTEMPTS, window: timedelta = THROTTLE_WINDOW
    ) -> None:
        self.attempts = attempts
        self.window = window
        self._failures: dict[tuple[str, str], deque[datetime]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _trim(self, key: tuple[str, str], now: datetime) -> deque[datetime]:
        failures = self._failures[key]
        while failures and now - failures[0] >= self.window:
            failures.popleft()
        return failures

    def retry_after(self, key: tuple[str, str], now: datetime) -> int | None:
        """Seconds until another attempt is allowed, or None when one is allowed now."""
        with self._lock:
            failures = self._trim(key, now)
            if len(failures) < self.attempts:
                return None
            return max(int((failures[0] + self.window - now).total_seconds()), 1)

    def fail(self, key: tuple[str, str], now: datetime) -> None:
        with self._lock:
            self._trim(key, now).append(now)
            if len(self._failures) > 100_000:
                # Bound memory under a spray of distinct emails: forget the oldest keys.
                for stale in list(self._failures)[:50_000]:
                    del self._failures[stale]

    def clear(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._failures.pop(key, None)


def ensure_csrf(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    session = session_of(request)
    token = session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def sign_in(request: Request, user: User) -> None:
    """A fresh session (new CSRF token, so a token seen before sign-in is useless after)."""
    session = session_of(request)
    session.clear()
    session["uid"] = user.id
    session["pv"] = fingerprint(user)
    session["csrf"] = secrets.token_urlsafe(32)


def sign_out(request: Request) -> None:
    session = session_of(request)
    session.clear()
    session["csrf"] = secrets.token_urlsafe(32)


def web_user(request: Request) -> User | None:
    """The signed-in user, or None; a session whose password changed since is signed out."""
    session = session_of(request)
    uid = session.get("uid")
    if not isinstance(uid, int):
        return None
    with request.app.state.db.read_session() as db_session:
        user = db_session.get(User, uid)
        if user is None or not hmac.compare_digest(str(session.get("pv", "")), fingerprint(user)):
            session.pop("uid", None)
            session.pop("pv", None)
            return None
        db_session.expunge(user)
    return user


def signed_in(user: Annotated[User | None, Depends(web_user)], request: Request) -> User:
    if user is None:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        raise SignInRequired(target if request.method == "GET" else "/incidents")
    return user


def _role(*roles: Role) -> Callable[..., User]:
    def check(user: Annotated[User, Depends(signed_in)]) -> User:
        if user.role not in roles:
            raise Refused(
                403,
                "Not allowed",
                f"This needs the {' or '.join(roles)} role; you are {user.role}.",
            )
        return user

    return check


async def checked_form(request: Request) -> FormData:
    """The posted form, after its CSRF token matched the session's; anything else is a 403
    before any change is made."""
    form = await request.form()
    sent = form.get("csrf")
    expected = session_of(request).get("csrf")
    if (
        not isinstance(sent, str)
        or not isinstance(expected, str)
        or not expected
        or not hmac.compare_digest(sent.encode(), expected.encode())
    ):
        raise Refused(
            403,
            "Form expired",
            "This form's security token is missing or wrong. Reload the page and try again.",
        )
    return form


def text(form: FormData, name: str, default: str = "") -> str:
    """A text field of the form (files and missing fields read as the default)."""
    value: Any = form.get(name, default)
    return value if isinstance(value, str) else default


WebUser = Annotated[User | None, Depends(web_user)]
SignedIn = Annotated[User, Depends(signed_in)]
Responder = Annotated[User, Depends(_role(Role.ADMIN, Role.RESPONDER))]
Admin = Annotated[User, Depends(_role(Role.ADMIN))]
Form = Annotated[FormData, Depends(checked_form)]
