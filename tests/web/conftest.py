"""Web fixtures: the app with the console installed, and people who can sign in to it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from vigil.accounts.models import Role, User
from vigil.alerts.models import Alert
from vigil.api.app import create_app
from vigil.clock import FakeClock
from vigil.config import Settings
from vigil.storage.db import Database
from vigil.web import install, set_password
from vigil.web.auth import Hashing

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2 with small parameters: the recommended ones take ~1 s per hash here."""
    monkeypatch.setattr(
        Hashing, "hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture
def web(db: Database, clock: FakeClock, settings: Settings) -> Iterator[TestClient]:
    """A browser-like client of the app with the console (no one signed in yet)."""
    app = create_app(settings, db=db, clock=clock)
    install(app)
    with TestClient(app, base_url="http://vigil.test", follow_redirects=False) as client:
        yield client


@pytest.fixture
def make_person(make_user: Any, session: Session) -> Any:
    """A user with a console password."""

    def make(role: Role = Role.RESPONDER, **overrides: Any) -> User:
        user: User = make_user(role, **overrides)
        set_password(session, user_id=user.id, password=PASSWORD)
        session.commit()
        return user

    return make


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def sign_in(client: TestClient, user: User, password: str = PASSWORD) -> str:
    """Sign in through the form like a person; returns the session's CSRF token."""
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login", data={"email": user.email, "password": password, "csrf": token}
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/account").text)


@pytest.fixture
def responder(make_person: Any) -> User:
    user: User = make_person(Role.RESPONDER, name="Rita Responder")
    return user


@pytest.fixture
def signed_in(web: TestClient, responder: User) -> tuple[TestClient, str]:
    """The client signed in as a responder, and its CSRF token."""
    return web, sign_in(web, responder)


@pytest.fixture
def send_alert(web: TestClient, session: Session) -> Any:
    """Send a generic alert over HTTP like a monitoring tool; returns its incident's number."""

    def send(key: str, summary: str = "Disk full on db-1", **extra: Any) -> int:
        body = {"summary": summary, "severity": "critical", "source": "db-1", **extra}
        response = web.post(f"/integrations/generic/{key}", json=body)
        assert response.status_code == 202, response.text
        session.expire_all()
        number = session.scalar(
            sa.select(Alert.incident_id).order_by(Alert.last_seen_at.desc(), Alert.id.desc())
        )
        assert number is not None
        return int(number)

    return send
