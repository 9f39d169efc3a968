"""The REST resources: services and their integration keys, teams, users, alerts, health and
the OpenAPI document, including how each refuses bad input (422/404/409 naming the field)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.payloads import alertmanager_message, am_alert, prometheus_alert
from vigil.accounts.models import User
from vigil.alerts.models import Alert
from vigil.services.models import IntegrationKey, Service


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if status != 204 else None


def refused(response: Any, status: int, field: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["field"] == field, body
    assert body["error"]
    return body


def fire(client: TestClient, key: str, **event: Any) -> None:
    event = {"summary": "Disk full", "dedup_key": "disk", **event}
    ok(client.post(f"/integrations/generic/{key}", json=event), 202)


# --- services ----------------------------------------------------------------------------------


def test_services_can_be_created_read_listed_updated_and_deleted(
    client: TestClient, auth: dict[str, str]
) -> None:
    created = ok(
        client.post(
            "/api/v1/services",
            json={
                "name": "  payments ",
                "description": "Card payments",
                "grouping_mode": "as_sent",
                "severity_mapping": {" Page ": "SEV1"},
                "default_severity": "SEV3",
                "integration_types": ["alertmanager", "pagerduty"],
            },
            headers=auth,
        ),
        201,
    )
    assert created["name"] == "payments"
    assert created["severity_mapping"] == {"page": "SEV1"}
    assert sorted(k["type"] for k in created["integration_keys"]) == ["alertmanager", "pagerduty"]
    service_id = created["id"]

    assert ok(client.get(f"/api/v1/services/{service_id}", headers=auth)) == created
    assert service_id in [s["id"] for s in ok(client.get("/api/v1/services", headers=auth))]

    updated = ok(
        client.patch(
            f"/api/v1/services/{service_id}",
            json={"description": "Cards and wallets", "group_window_seconds": 600},
            headers=auth,
        )
    )
    assert updated["description"] == "Cards and wallets"
    assert updated["group_window_seconds"] == 600
    assert updated["grouping_mode"] == "as_sent"  # untouched fields keep their values

    ok(client.delete(f"/api/v1/services/{service_id}", headers=auth), 204)
    refused(client.get(f"/api/v1/services/{service_id}", headers=auth), 404, "service_id")


def test_a_new_service_gets_a_generic_key_with_copy_ready_urls(
    client: TestClient, auth: dict[str, str]
) -> None:
    created = ok(client.post("/api/v1/services", json={"name": "search"}, headers=auth), 201)
    [key] = created["integration_keys"]
    assert key["type"] == "generic"
    assert len(key["key"]) == 32
    assert key["urls"] == {
        "alertmanager": f"http://vigil.test/integrations/alertmanager/{key['key']}",
        "grafana": f"http://vigil.test/integrations/grafana/{key['key']}",
        "prometheus": f"http://vigil.test/integrations/prometheus/{key['key']}",
        "pagerduty": "http://vigil.test/v2/enqueue",
        "generic": f"http://vigil.test/integrations/generic/{key['key']}",
    }
    generic_path = key["urls"]["generic"].removeprefix("http://vigil.test")
    ok(client.post(generic_path, json={"summary": "Search down"}), 202)


def test_integration_keys_can_be_added_listed_and_revoked(
    client: TestClient, auth: dict[str, str], service: Service, key: str
) -> None:
    base = f"/api/v1/services/{service.id}/integration-keys"
    added = ok(
        client.post(base, json={"type": "grafana", "name": "grafana prod"}, headers=auth), 201
    )
    assert added["service_id"] == service.id
    assert added["revoked_at"] is None
    assert added["urls"]["grafana"].endswith(f"/integrations/grafana/{added['key']}")
    listed = ok(client.get(base, headers=auth))
    assert {k["key"] for k in listed} == {key, added["key"]}

    ok(client.post(f"/integrations/grafana/{added['key']}", json={"version": "1", "alerts": []}))
    revoked = ok(client.delete(f"{base}/{added['id']}", headers=auth))
    assert revoked["revoked_at"] is not None
    after = client.post(f"/integrations/generic/{added['key']}", json={"summary": "late"})
    refused(after, 404, "key")
    # The service's other key is untouched.
    ok(client.post(f"/integrations/generic/{key}", json={"summary": "still works"}), 202)


def test_revoking_a_key_of_another_service_is_404(
    client: TestClient, auth: dict[str, str], service: Service, make_service: Any
) -> None:
    other = make_service()
    other_key = ok(client.get(f"/api/v1/services/{other.id}/integration-keys", headers=auth))[0]
    response = client.delete(
        f"/api/v1/services/{service.id}/integration-keys/{other_key['id']}", headers=auth
    )
    assert response.status_code == 404
    assert (
        ok(client.get(f"/api/v1/services/{other.id}", headers=auth))["integration_keys"][0][
            "revoked_at"
        ]
        is None
    )


def test_keys_of_an_unknown_service_are_404(client: TestClient, auth: dict[str, str]) -> None:
    refused(client.get("/api/v1/services/424242/integration-keys", headers=auth), 404, "service_id")
    refused(
        client.post("/api/v1/services/424242/integration-keys", json={}, headers=auth),
        404,
        "service_id",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "s", "grouping_mode": "by_vibes"}, "grouping_mode"),
        ({"name": "s", "default_severity": "SEV9"}, "default_severity"),
        ({"name": "s", "severity_mapping": {"page": "SEV0"}}, "severity_mapping.page"),
        ({"name": "s", "group_window_seconds": -1}, "group_window_seconds"),
        ({"name": "s", "group_window_seconds": "soon"}, "group_window_seconds"),
        ({"name": "s", "integration_types": ["carrier-pigeon"]}, "integration_types[0]"),
        ({"name": "s", "team_id": 424242}, "team_id"),
        ({"name": "s", "team_id": 2**40}, "team_id"),
        ({"name": "s", "colour": "red"}, "colour"),
        ({"name": "bad\u0000name"}, "name"),
        ({"description": "no name"}, "name"),
    ],
)
def test_an_invalid_service_is_refused_with_422_naming_the_field(
    client: TestClient, auth: dict[str, str], body: dict[str, Any], field: str
) -> None:
    refused(client.post("/api/v1/services", json=body, headers=auth), 422, field)
    assert ok(client.get("/api/v1/services", headers=auth)) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": None}, "name"),
        ({"default_severity": "SEV9"}, "default_severity"),
        ({"group_window_seconds": -5}, "group_window_seconds"),
        ({"grouping_mode": "random"}, "grouping_mode"),
    ],
)
def test_an_invalid_service_update_is_refused_and_changes_nothing(
    client: TestClient, auth: dict[str, str], service: Service, body: dict[str, Any], field: str
) -> None:
    before = ok(client.get(f"/api/v1/services/{service.id}", headers=auth))
    refused(client.patch(f"/api/v1/services/{service.id}", json=body, headers=auth), 422, field)
    assert ok(client.get(f"/api/v1/services/{service.id}", headers=auth)) == before


def test_a_duplicate_service_name_is_refused_with_409(
    client: TestClient, auth: dict[str, str], service: Service, make_service: Any
) -> None:
    refused(client.post("/api/v1/services", json={"name": "checkout"}, headers=auth), 409, "name")
    other = make_service()
    renamed = client.patch(f"/api/v1/services/{other.id}", json={"name": "checkout"}, headers=auth)
    refused(renamed, 409, "name")


def test_a_service_with_open_incidents_cannot_be_deleted_until_they_are_resolved(
    client: TestClient, auth: dict[str, str], service: Service, key: str
) -> None:
    fire(client, key)
    [incident] = ok(client.get("/api/v1/incidents", headers=auth))["items"]
    body = refused(client.delete(f"/api/v1/services/{service.id}", headers=auth), 409, "service_id")
    assert "open incident" in body["error"]
    assert ok(client.get(f"/api/v1/services/{service.id}", headers=auth))["id"] == service.id

    ok(client.post(f"/api/v1/incidents/{incident['number']}/resolve", headers=auth))
    ok(client.delete(f"/api/v1/services/{service.id}", headers=auth), 204)
    refused(client.get(f"/api/v1/services/{service.id}", headers=auth), 404, "service_id")
    refused(client.post(f"/integrations/generic/{key}", json={"summary": "x"}), 404, "key")


def test_deleting_a_service_deletes_its_alerts_and_no_one_elses(
    client: TestClient,
    auth: dict[str, str],
    session: Session,
    key: str,
    service: Service,
    make_service: Any,
) -> None:
    """Alerts refer to their service without a foreign key (migration 0011): deleting the
    service deletes them by hand, and an alert merged into one of its incidents from another
    service stays, without an incident."""
    other = make_service(name="payments")
    other_key = session.scalars(
        sa.select(IntegrationKey.key).where(IntegrationKey.service_id == other.id)
    ).one()
    fire(client, key, dedup_key="disk")
    fire(client, other_key, dedup_key="cpu")
    ours, theirs = (
        ok(client.get("/api/v1/incidents", params={"service": s.id}, headers=auth))["items"][0]
        for s in (service, other)
    )
    ok(
        client.post(
            f"/api/v1/incidents/{theirs['number']}/merge",
            json={"into": ours["number"]},
            headers=auth,
        )
    )
    for incident in (ours, theirs):
        ok(client.post(f"/api/v1/incidents/{incident['number']}/resolve", headers=auth))
    ours_and_theirs = [service.id, other.id]  # read before ours is deleted
    ok(client.delete(f"/api/v1/services/{service.id}", headers=auth), 204)

    session.expire_all()
    left = session.execute(
        sa.select(Alert.service_id, Alert.dedup_key, Alert.incident_id).where(
            Alert.service_id.in_(ours_and_theirs)
        )
    ).all()
    assert [(row.service_id, row.dedup_key, row.incident_id) for row in left] == [
        (other.id, "cpu", None)
    ]


def test_deleting_an_unknown_service_is_404(client: TestClient, auth: dict[str, str]) -> None:
    refused(client.delete("/api/v1/services/424242", headers=auth), 404, "service_id")


# --- teams and users ---------------------------------------------------------------------------


def test_teams_and_users_can_be_created_listed_read_and_updated(
    client: TestClient, auth: dict[str, str]
) -> None:
    team = ok(
        client.post(
            "/api/v1/teams",
            json={"name": "Storage", "description": "Disks", "time_zone": "Europe/Berlin"},
            headers=auth,
        ),
        201,
    )
    assert team["time_zone"] == "Europe/Berlin"
    user = ok(
        client.post(
            "/api/v1/users",
            json={
                "name": "Ada Lovelace",
                "email": " Ada@Example.COM ",
                "time_zone": "America/New_York",
                "team_ids": [team["id"]],
            },
            headers=auth,
        ),
        201,
    )
    assert user["email"] == "ada@example.com"
    assert user["role"] == "responder"
    assert user["team_ids"] == [team["id"]]
    assert ok(client.get(f"/api/v1/teams/{team['id']}", headers=auth))["member_ids"] == [user["id"]]
    assert ok(client.get(f"/api/v1/users/{user['id']}", headers=auth)) == user
    assert user["id"] in [u["id"] for u in ok(client.get("/api/v1/users", headers=auth))]
    assert team["id"] in [t["id"] for t in ok(client.get("/api/v1/teams", headers=auth))]

    renamed = ok(client.patch(f"/api/v1/teams/{team['id']}", json={"name": "Disks"}, headers=auth))
    assert renamed["name"] == "Disks"
    assert renamed["time_zone"] == "Europe/Berlin"
    moved = ok(
        client.patch(
            f"/api/v1/users/{user['id']}",
            json={"role": "observer", "time_zone": "Asia/Tokyo", "team_ids": []},
            headers=auth,
        )
    )
    assert (moved["role"], moved["time_zone"], moved["team_ids"]) == ("observer", "Asia/Tokyo", [])
    assert ok(client.get(f"/api/v1/teams/{team['id']}", headers=auth))["member_ids"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"name": "Bob", "email": "bob@example.com", "time_zone": "Mars/Olympus_Mons"},
            "time_zone",
        ),
        ({"name": "Bob", "email": "bob@example.com", "time_zone": "CEST"}, "time_zone"),
        ({"name": "Bob", "email": "not-an-email"}, "email"),
        ({"name": "Bob", "email": "bob@localhost"}, "email"),
        ({"name": "Bob", "email": "bob smith@example.com"}, "email"),
        ({"name": "Bob", "email": "bob\u0000@example.com"}, "email"),
        ({"name": "", "email": "bob@example.com"}, "name"),
        ({"name": "Bob\u0000", "email": "bob@example.com"}, "name"),
        ({"name": "Bob", "email": "bob@example.com", "role": "root"}, "role"),
        ({"name": "Bob", "email": "bob@example.com", "team_ids": [424242]}, "team_ids[0]"),
        ({"name": "Bob", "email": "bob@example.com", "team_ids": [2**40]}, "team_ids[0]"),
        ({"name": "Bob"}, "email"),
    ],
)
def test_an_invalid_user_is_refused_with_422_naming_the_field(
    client: TestClient, auth: dict[str, str], body: dict[str, Any], field: str
) -> None:
    before = ok(client.get("/api/v1/users", headers=auth))
    refused(client.post("/api/v1/users", json=body, headers=auth), 422, field)
    assert ok(client.get("/api/v1/users", headers=auth)) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Ops", "time_zone": "Nowhere/Special"}, "time_zone"),
        ({"name": ""}, "name"),
        ({"name": "Ops", "description": "d" * 1001}, "description"),
    ],
)
def test_an_invalid_team_is_refused_with_422_naming_the_field(
    client: TestClient, auth: dict[str, str], body: dict[str, Any], field: str
) -> None:
    refused(client.post("/api/v1/teams", json=body, headers=auth), 422, field)
    assert ok(client.get("/api/v1/teams", headers=auth)) == []


def test_duplicate_emails_and_team_names_are_refused_with_409(
    client: TestClient, auth: dict[str, str], admin: User, make_user: Any
) -> None:
    duplicate = {"name": "Twin", "email": admin.email.upper()}
    refused(client.post("/api/v1/users", json=duplicate, headers=auth), 409, "email")
    other = make_user()
    taken = client.patch(f"/api/v1/users/{other.id}", json={"email": admin.email}, headers=auth)
    refused(taken, 409, "email")
    ok(client.post("/api/v1/teams", json={"name": "Storage"}, headers=auth), 201)
    refused(client.post("/api/v1/teams", json={"name": "Storage"}, headers=auth), 409, "name")


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/services/424242", "service_id"),
        ("/api/v1/users/424242", "user_id"),
        ("/api/v1/teams/424242", "team_id"),
        ("/api/v1/incidents/424242", "incident_id"),
        ("/api/v1/alerts/424242", "alert_id"),
        ("/api/v1/incidents?service=no-such-service", "service"),
        ("/api/v1/alerts?service=no-such-service", "service"),
    ],
)
def test_an_unknown_resource_is_404_naming_it(
    client: TestClient, auth: dict[str, str], path: str, field: str
) -> None:
    refused(client.get(path, headers=auth), 404, field)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("patch", "/api/v1/users/424242", {"name": "x"}),
        ("patch", "/api/v1/teams/424242", {"name": "x"}),
        ("patch", "/api/v1/services/424242", {"name": "x"}),
        ("post", "/api/v1/incidents/424242/acknowledge", None),
        ("post", "/api/v1/incidents/424242/notes", {"text": "x"}),
    ],
)
def test_changing_an_unknown_resource_is_404(
    client: TestClient, auth: dict[str, str], method: str, path: str, body: Any
) -> None:
    response = getattr(client, method)(path, json=body, headers=auth)
    assert response.status_code == 404, response.text
    assert response.json()["field"]


def test_a_non_numeric_id_in_the_path_is_422(client: TestClient, auth: dict[str, str]) -> None:
    refused(client.get("/api/v1/services/checkout", headers=auth), 422, "service_id")


# --- alerts and pagination ---------------------------------------------------------------------


def test_alerts_can_be_listed_and_read_with_their_raw_payload(
    client: TestClient, auth: dict[str, str], key: str
) -> None:
    event = {"summary": "Disk full", "dedup_key": "disk", "details": {"free": 0}, "extra": [1, 2]}
    ok(client.post(f"/integrations/generic/{key}", json=event), 202)
    [alert] = ok(client.get("/api/v1/alerts", headers=auth))["items"]
    assert "raw_payload" not in alert
    detail = ok(client.get(f"/api/v1/alerts/{alert['id']}", headers=auth))
    assert detail["raw_payload"] == event  # as posted, fields we ignore included
    assert detail["details"] == {"free": 0}


@pytest.mark.parametrize("sender", ["prometheus", "alertmanager"])
def test_a_prometheus_or_alertmanager_alert_reads_back_with_the_payload_as_posted(
    client: TestClient, auth: dict[str, str], key: str, session: Any, sender: str
) -> None:
    """Stored without what the alert's columns hold (`vigil.alerts.raw`), shown whole."""
    sent = {**prometheus_alert(instance="db-7:9100"), "extra": {"nested": [1, None]}}
    if sender == "prometheus":
        posted = client.post(f"/integrations/prometheus/{key}/api/v2/alerts", json=[sent])
        assert posted.status_code == 200, posted.text
    else:
        sent = {**am_alert(instance="db-7:9100"), "extra": {"nested": [1, None]}}
        ok(client.post(f"/integrations/alertmanager/{key}", json=alertmanager_message(sent)), 200)
    [alert] = ok(client.get("/api/v1/alerts", headers=auth))["items"]
    detail = ok(client.get(f"/api/v1/alerts/{alert['id']}", headers=auth))
    assert detail["raw_payload"] == sent
    stored = session.execute(sa.text("SELECT raw_payload FROM alerts")).scalar_one()
    assert "db-7:9100" not in json.dumps(stored)


def test_a_pagerduty_events_raw_payload_leaves_out_its_routing_key(
    client: TestClient, auth: dict[str, str], key: str
) -> None:
    """The routing key is the service's integration key: any reader could send alerts with it."""
    event = {
        "routing_key": key,
        "event_action": "trigger",
        "payload": {"summary": "Disk full", "source": "db-1", "severity": "critical"},
        "client": "nagios",
    }
    ok(client.post("/v2/enqueue", json=event), 202)
    [alert] = ok(client.get("/api/v1/alerts", headers=auth))["items"]
    detail = ok(client.get(f"/api/v1/alerts/{alert['id']}", headers=auth))
    assert detail["raw_payload"] == {name: v for name, v in event.items() if name != "routing_key"}
    assert key not in json.dumps(detail)


def test_a_large_raw_payload_is_not_stored_whole(
    client: TestClient, auth: dict[str, str], key: str
) -> None:
    event = {"summary": "Huge", "dedup_key": "huge", "details": {"dump": "x" * 40_000}}
    ok(client.post(f"/integrations/generic/{key}", json=event), 202)
    [alert] = ok(client.get("/api/v1/alerts", headers=auth))["items"]
    raw = ok(client.get(f"/api/v1/alerts/{alert['id']}", headers=auth))["raw_payload"]
    assert raw["_truncated"] is True
    assert raw["_approximate_size"] > 40_000
    assert "details" not in raw


def test_alerts_and_incidents_page_with_a_cursor(
    client: TestClient, auth: dict[str, str], make_service: Any, session: Any
) -> None:
    svc = make_service(grouping_mode="none")
    key = ok(client.get(f"/api/v1/services/{svc.id}/integration-keys", headers=auth))[0]["key"]
    for n in range(5):
        fire(client, key, dedup_key=f"k{n}", summary=f"Alert {n}")
    for resource in ("alerts", "incidents"):
        seen: list[int] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = ok(client.get(f"/api/v1/{resource}", params=params, headers=auth))
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == 5
        assert seen == sorted(seen, reverse=True)


@pytest.mark.parametrize("resource", ["incidents", "alerts"])
@pytest.mark.parametrize("cursor", ["abc", "-1", "1.5", "MTA="])
def test_a_cursor_the_server_never_handed_out_is_422(
    client: TestClient, auth: dict[str, str], resource: str, cursor: str
) -> None:
    response = client.get(f"/api/v1/{resource}", params={"cursor": cursor}, headers=auth)
    refused(response, 422, "cursor")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 10_000}, "limit"),
        ({"status": "sleeping"}, "status[0]"),
        ({"severity": "SEV9"}, "severity[0]"),
        ({"since": "last week"}, "since"),
    ],
)
def test_invalid_incident_filters_are_422_naming_the_parameter(
    client: TestClient, auth: dict[str, str], params: dict[str, Any], field: str
) -> None:
    refused(client.get("/api/v1/incidents", params=params, headers=auth), 422, field)


@pytest.mark.parametrize(
    ("action", "body", "field"),
    [
        ("severity", {"severity": "SEV9"}, "severity"),
        ("severity", {}, "severity"),
        ("notes", {"text": "   "}, "text"),
        ("notes", {"text": "x" * 10_001}, "text"),
    ],
)
def test_invalid_incident_changes_are_422_and_change_nothing(
    client: TestClient, auth: dict[str, str], key: str, action: str, body: Any, field: str
) -> None:
    fire(client, key)
    [incident] = ok(client.get("/api/v1/incidents", headers=auth))["items"]
    path = f"/api/v1/incidents/{incident['number']}"
    before = ok(client.get(path, headers=auth))
    refused(client.post(f"{path}/{action}", json=body, headers=auth), 422, field)
    assert ok(client.get(path, headers=auth)) == before


def test_acknowledging_a_resolved_incident_is_409(
    client: TestClient, auth: dict[str, str], key: str
) -> None:
    fire(client, key)
    [incident] = ok(client.get("/api/v1/incidents", headers=auth))["items"]
    path = f"/api/v1/incidents/{incident['number']}"
    ok(client.post(f"{path}/resolve", headers=auth))
    refused(client.post(f"{path}/acknowledge", headers=auth), 409, "status")


# --- health and the API description ------------------------------------------------------------


def test_health_and_readiness_answer_without_a_token(client: TestClient) -> None:
    assert ok(client.get("/healthz")) == {"status": "ok"}
    assert ok(client.get("/readyz")) == {"status": "ready"}


def test_the_openapi_document_describes_error_responses(client: TestClient) -> None:
    paths = ok(client.get("/openapi.json"))["paths"]
    incidents = paths["/api/v1/incidents"]["get"]["responses"]
    assert {"200", "401", "422"} <= set(incidents)
    error_schema = incidents["401"]["content"]["application/json"]["schema"]
    assert {"error", "field"} <= set(error_schema["properties"])
    assert {"401", "403", "409", "422"} <= set(paths["/api/v1/services"]["post"]["responses"])
    assert "404" in paths["/api/v1/services/{service_id}"]["get"]["responses"]
    for path in (
        "/integrations/alertmanager/{key}",
        "/integrations/grafana/{key}",
        "/integrations/prometheus/{key}/api/v2/alerts",
        "/integrations/generic/{key}",
    ):
        assert {"400", "404", "413", "415"} <= set(paths[path]["post"]["responses"]), path
    assert {"400", "413"} <= set(paths["/v2/enqueue"]["post"]["responses"])
