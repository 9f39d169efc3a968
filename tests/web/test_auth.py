"""Signing in and out, password changes, CSRF and throttling of the console."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.web.conftest import PASSWORD, csrf_of, sign_in
from vigil.accounts.models import Role, User
from vigil.clock import FakeClock


def test_pages_need_signing_in_and_send_you_back_after(web: TestClient, responder: User) -> None:
    response = web.get("/incidents?status=triggered")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/incidents%3Fstatus%3Dtriggered"
    token = csrf_of(web.get(response.headers["location"]).text)
    signed = web.post(
        "/login",
        data={
            "email": responder.email.upper(),
            "password": PASSWORD,
            "csrf": token,
            "next": "/incidents?status=triggered",
        },
    )
    assert signed.status_code == 303
    assert signed.headers["location"] == "/incidents?status=triggered"
    assert web.get("/incidents").status_code == 200


def test_session_cookie_is_signed_httponly_and_samesite(web: TestClient, responder: User) -> None:
    token = csrf_of(web.get("/login").text)
    response = web.post(
        "/login", data={"email": responder.email, "password": PASSWORD, "csrf": token}
    )
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("vigil_session=")
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    value = web.cookies["vigil_session"]
    web.cookies.clear()
    web.cookies.set("vigil_session", value[:-3] + ("abc" if value[-3:] != "abc" else "xyz"))
    assert web.get("/incidents").status_code == 303


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(
    web: TestClient, responder: User
) -> None:
    token = csrf_of(web.get("/login").text)
    wrong = web.post(
        "/login", data={"email": responder.email, "password": "nope-nope", "csrf": token}
    )
    unknown = web.post(
        "/login", data={"email": "nobody@example.com", "password": PASSWORD, "csrf": token}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert "do not match an account" in wrong.text
    assert "do not match an account" in unknown.text
    assert f'value="{responder.email}"' in wrong.text
    assert web.get("/incidents").status_code == 303


def test_a_user_without_a_password_cannot_sign_in(web: TestClient, make_user: Any) -> None:
    user = make_user(Role.ADMIN)
    token = csrf_of(web.get("/login").text)
    response = web.post("/login", data={"email": user.email, "password": "", "csrf": token})
    assert response.status_code == 401


def test_five_failed_sign_ins_lock_the_email_for_fifteen_minutes(
    web: TestClient, responder: User, clock: FakeClock
) -> None:
    token = csrf_of(web.get("/login").text)
    for _ in range(5):
        bad = {"email": responder.email, "password": "guess-guess", "csrf": token}
        assert web.post("/login", data=bad).status_code == 401
    good = {"email": responder.email, "password": PASSWORD, "csrf": token}
    locked = web.post("/login", data=good)
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    assert "Too many failed attempts" in locked.text
    clock.advance(minutes=15)
    assert web.post("/login", data=good).status_code == 303


def test_sign_in_without_the_csrf_token_is_refused(web: TestClient, responder: User) -> None:
    web.get("/login")
    response = web.post("/login", data={"email": responder.email, "password": PASSWORD})
    assert response.status_code == 403
    assert web.get("/incidents").status_code == 303


def test_sign_out_ends_the_session(signed_in: tuple[TestClient, str]) -> None:
    web, token = signed_in
    response = web.post("/logout", data={"csrf": token})
    assert response.status_code == 303
    assert web.get("/incidents").status_code == 303


def test_sign_out_with_a_wrong_token_keeps_you_signed_in(
    signed_in: tuple[TestClient, str],
) -> None:
    web, _token = signed_in
    assert web.post("/logout", data={"csrf": "forged"}).status_code == 403
    assert web.get("/incidents").status_code == 200


def test_changing_the_password_signs_out_other_sessions(
    web: TestClient, responder: User, signed_in: tuple[TestClient, str]
) -> None:
    _web, token = signed_in
    other = TestClient(web.app, base_url="http://vigil.test", follow_redirects=False)
    sign_in(other, responder)
    changed = web.post(
        "/account/password",
        data={
            "current": PASSWORD,
            "new": "a new long one",
            "confirm": "a new long one",
            "csrf": token,
        },
    )
    assert changed.status_code == 303
    assert web.get("/incidents").status_code == 200
    assert other.get("/incidents").status_code == 303
    web.post("/logout", data={"csrf": csrf_of(web.get("/account").text)})
    sign_in(web, responder, password="a new long one")


def test_password_change_with_a_wrong_current_password_changes_nothing(
    web: TestClient, responder: User, signed_in: tuple[TestClient, str]
) -> None:
    _web, token = signed_in
    response = web.post(
        "/account/password",
        data={"current": "wrong-wrong", "new": "short", "confirm": "short", "csrf": token},
    )
    assert response.status_code == 422
    assert "not your current password" in response.text
    assert "too weak" in response.text
    web.post("/logout", data={"csrf": token})
    sign_in(web, responder)


def test_next_cannot_send_you_to_another_site(web: TestClient, responder: User) -> None:
    token = csrf_of(web.get("/login").text)
    response = web.post(
        "/login",
        data={
            "email": responder.email,
            "password": PASSWORD,
            "csrf": token,
            "next": "https://evil.example/",
        },
    )
    assert response.headers["location"] == "/incidents"


def test_home_sends_a_signed_in_person_to_the_incidents(
    signed_in: tuple[TestClient, str],
) -> None:
    web, _token = signed_in
    assert web.get("/").headers["location"] == "/incidents"
