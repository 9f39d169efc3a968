"""Who may do what through the REST API: tokens authenticate, roles authorise, and every change
made through a token is attributed to its user on the incident and its timeline."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from vigil.accounts.models import Role, User


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def open_incident(client: TestClient, key: str, auth: dict[str, str]) -> dict[str, Any]:
    event = {"summary": "Checkout latency", "dedup_key": "latency", "severity": "critical"}
    assert client.post(f"/integrations/generic/{key}", json=event).status_code == 202
    [incident] = client.get("/api/v1/incidents", headers=auth).json()["items"]
    return incident  # type: ignore[no-any-return]


def detail(client: TestClient, auth: dict[str, str], number: int) -> dict[str, Any]:
    response = client.get(f"/api/v1/incidents/{number}", headers=auth)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def assert_json_error(response: Any, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]


@pytest.fixture
def observer(make_user: Any, make_token: Any) -> tuple[User, dict[str, str]]:
    user = make_user(Role.OBSERVER)
    return user, bearer(make_token(user))


@pytest.fixture
def responder(make_user: Any, make_token: Any) -> tuple[User, dict[str, str]]:
    user = make_user(Role.RESPONDER)
    return user, bearer(make_token(user))


# --- authentication ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer vgl_not-a-real-token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "vgl_token-without-scheme"},
    ],
    ids=["missing", "empty", "wrong", "basic-auth", "no-scheme"],
)
def test_a_request_without_a_valid_token_gets_401_with_a_json_error(
    client: TestClient, headers: dict[str, str]
) -> None:
    for path in ("/api/v1/incidents", "/api/v1/services", "/api/v1/users/me", "/api/v1/tokens"):
        assert_json_error(client.get(path, headers=headers), 401)


def test_a_revoked_token_gets_401(
    client: TestClient, auth: dict[str, str], responder: tuple[User, dict[str, str]]
) -> None:
    user, headers = responder
    assert client.get("/api/v1/incidents", headers=headers).status_code == 200
    [token] = [
        t for t in client.get("/api/v1/tokens", headers=auth).json() if t["user_id"] == user.id
    ]
    assert client.delete(f"/api/v1/tokens/{token['id']}", headers=auth).status_code == 200
    response = client.get("/api/v1/incidents", headers=headers)
    assert_json_error(response, 401)
    assert "revoked" in response.json()["error"]


def test_a_mutation_without_a_token_changes_nothing(
    client: TestClient, auth: dict[str, str], key: str
) -> None:
    incident = open_incident(client, key, auth)
    number = incident["number"]
    assert_json_error(client.post(f"/api/v1/incidents/{number}/acknowledge"), 401)
    assert_json_error(client.post("/api/v1/services", json={"name": "sneaky"}), 401)
    assert detail(client, auth, number)["status"] == "triggered"
    names = [s["name"] for s in client.get("/api/v1/services", headers=auth).json()]
    assert "sneaky" not in names


# --- roles -------------------------------------------------------------------------------------


def test_an_observer_can_read_incidents_and_alerts(
    client: TestClient, auth: dict[str, str], key: str, observer: tuple[User, dict[str, str]]
) -> None:
    _user, headers = observer
    incident = open_incident(client, key, auth)
    listed = client.get("/api/v1/incidents", headers=headers)
    assert listed.status_code == 200
    assert [i["number"] for i in listed.json()["items"]] == [incident["number"]]
    assert client.get(f"/api/v1/incidents/{incident['number']}", headers=headers).status_code == 200
    assert client.get("/api/v1/alerts", headers=headers).status_code == 200
    assert client.get("/api/v1/services", headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("acknowledge", None),
        ("resolve", {"note": "fixed"}),
        ("notes", {"text": "looking"}),
        ("severity", {"severity": "SEV4", "reason": "minor"}),
    ],
)
def test_an_observer_cannot_change_an_incident(
    client: TestClient,
    auth: dict[str, str],
    key: str,
    observer: tuple[User, dict[str, str]],
    action: str,
    body: dict[str, str] | None,
) -> None:
    _user, headers = observer
    number = open_incident(client, key, auth)["number"]
    before = detail(client, auth, number)
    response = client.post(f"/api/v1/incidents/{number}/{action}", json=body, headers=headers)
    assert_json_error(response, 403)
    assert detail(client, auth, number) == before


def test_an_observer_cannot_create_services_users_or_teams(
    client: TestClient, auth: dict[str, str], observer: tuple[User, dict[str, str]]
) -> None:
    _user, headers = observer
    assert_json_error(client.post("/api/v1/services", json={"name": "x"}, headers=headers), 403)
    user = {"name": "Eve", "email": "eve@example.com"}
    assert_json_error(client.post("/api/v1/users", json=user, headers=headers), 403)
    assert_json_error(client.post("/api/v1/teams", json={"name": "t"}, headers=headers), 403)
    assert all(s["name"] != "x" for s in client.get("/api/v1/services", headers=auth).json())


def test_a_responder_can_acknowledge_but_cannot_create_services(
    client: TestClient, auth: dict[str, str], key: str, responder: tuple[User, dict[str, str]]
) -> None:
    user, headers = responder
    number = open_incident(client, key, auth)["number"]
    acked = client.post(f"/api/v1/incidents/{number}/acknowledge", headers=headers)
    assert acked.status_code == 200, acked.text
    assert acked.json()["status"] == "acknowledged"
    assert acked.json()["acknowledged_by_id"] == user.id
    response = client.post("/api/v1/services", json={"name": "payments"}, headers=headers)
    assert_json_error(response, 403)
    assert (
        client.post("/api/v1/services", json={"name": "payments"}, headers=auth).status_code == 201
    )


def test_a_responder_cannot_change_another_users_profile_or_their_own_role(
    client: TestClient, admin: User, responder: tuple[User, dict[str, str]]
) -> None:
    user, headers = responder
    other = client.patch(f"/api/v1/users/{admin.id}", json={"name": "Mallory"}, headers=headers)
    assert_json_error(other, 403)
    promote = client.patch(f"/api/v1/users/{user.id}", json={"role": "admin"}, headers=headers)
    assert_json_error(promote, 403)
    own = client.patch(f"/api/v1/users/{user.id}", json={"name": "Renamed"}, headers=headers)
    assert own.status_code == 200
    assert own.json()["name"] == "Renamed"
    assert own.json()["role"] == "responder"


# --- tokens ------------------------------------------------------------------------------------


def test_a_new_token_is_shown_once_and_works(
    client: TestClient, responder: tuple[User, dict[str, str]]
) -> None:
    user, headers = responder
    created = client.post("/api/v1/tokens", json={"name": "laptop"}, headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    plain = body["token"]
    assert plain.startswith("vgl_")
    assert body["user_id"] == user.id
    assert plain.startswith(body["prefix"])
    me = client.get("/api/v1/users/me", headers=bearer(plain))
    assert me.status_code == 200
    assert me.json()["id"] == user.id

    listed = client.get("/api/v1/tokens", headers=headers)
    assert listed.status_code == 200
    assert plain not in listed.text
    assert all("token" not in t and "token_hash" not in t for t in listed.json())
    assert "laptop" in [t["name"] for t in listed.json()]


def test_a_revoked_token_stops_working_at_once(
    client: TestClient, responder: tuple[User, dict[str, str]]
) -> None:
    _user, headers = responder
    created = client.post("/api/v1/tokens", json={"name": "ci"}, headers=headers).json()
    revoked = client.delete(f"/api/v1/tokens/{created['id']}", headers=headers)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert "token" not in revoked.json()
    assert_json_error(client.get("/api/v1/incidents", headers=bearer(created["token"])), 401)
    assert client.get("/api/v1/incidents", headers=headers).status_code == 200


def test_responders_see_and_revoke_only_their_own_tokens(
    client: TestClient,
    auth: dict[str, str],
    admin: User,
    responder: tuple[User, dict[str, str]],
) -> None:
    user, headers = responder
    assert {t["user_id"] for t in client.get("/api/v1/tokens", headers=headers).json()} == {user.id}
    admin_token = next(
        t for t in client.get("/api/v1/tokens", headers=auth).json() if t["user_id"] == admin.id
    )
    assert_json_error(client.delete(f"/api/v1/tokens/{admin_token['id']}", headers=headers), 403)
    assert client.get("/api/v1/incidents", headers=auth).status_code == 200


def test_only_admins_create_tokens_for_other_users(
    client: TestClient,
    auth: dict[str, str],
    admin: User,
    responder: tuple[User, dict[str, str]],
) -> None:
    user, headers = responder
    body = {"name": "stolen", "user_id": admin.id}
    assert_json_error(client.post("/api/v1/tokens", json=body, headers=headers), 403)
    made = client.post("/api/v1/tokens", json={"name": "bot", "user_id": user.id}, headers=auth)
    assert made.status_code == 201
    assert made.json()["user_id"] == user.id
    me = client.get("/api/v1/users/me", headers=bearer(made.json()["token"])).json()
    assert me["id"] == user.id


def test_revoking_an_unknown_token_is_404(client: TestClient, auth: dict[str, str]) -> None:
    response = client.delete("/api/v1/tokens/999999", headers=auth)
    assert_json_error(response, 404)
    assert response.json()["field"] == "token_id"


# --- attribution -------------------------------------------------------------------------------


def test_every_change_through_a_token_is_attributed_to_its_user(
    client: TestClient, auth: dict[str, str], key: str, responder: tuple[User, dict[str, str]]
) -> None:
    user, headers = responder
    number = open_incident(client, key, auth)["number"]
    base = f"/api/v1/incidents/{number}"

    acked = client.post(f"{base}/acknowledge", headers=headers).json()
    assert acked["acknowledged_by_id"] == user.id
    note = client.post(f"{base}/notes", json={"text": "rolling back"}, headers=headers)
    assert note.status_code == 201
    assert note.json()["actor_user_id"] == user.id
    assert note.json()["actor_name"] == user.name
    severity = client.post(f"{base}/severity", json={"severity": "SEV3"}, headers=headers)
    assert severity.status_code == 200
    resolved = client.post(f"{base}/resolve", json={"note": "rolled back"}, headers=headers)
    assert resolved.json()["resolved_by_id"] == user.id

    timeline = detail(client, auth, number)["timeline"]
    by_kind = {event["kind"]: event for event in timeline}
    assert by_kind["created"]["actor_user_id"] is None
    assert by_kind["created"]["actor_name"] is None
    for kind in ("acknowledged", "note", "severity_changed", "resolved"):
        assert by_kind[kind]["actor_user_id"] == user.id, kind
        assert by_kind[kind]["actor_name"] == user.name, kind
    assert by_kind["note"]["message"] == "rolling back"
