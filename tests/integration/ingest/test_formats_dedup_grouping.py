"""Alerts in, incidents out: every format, dedup, grouping modes and auto-resolve, through HTTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.payloads import (
    alertmanager_message,
    am_alert,
    grafana_message,
    pagerduty_trigger,
    prometheus_alert,
)
from vigil.clock import FakeClock
from vigil.services import service as services
from vigil.services.models import Service


def incidents(client: TestClient, auth: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/incidents", headers=auth, params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def incident(client: TestClient, auth: dict[str, str], number: int) -> dict[str, Any]:
    response = client.get(f"/api/v1/incidents/{number}", headers=auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_alertmanager_webhook_opens_an_incident_with_the_alert(
    client: TestClient, auth: dict[str, str], key: str
) -> None:
    response = client.post(f"/integrations/alertmanager/{key}", json=alertmanager_message())
    assert response.status_code == 200
    [opened] = incidents(client, auth)
    assert opened["title"] == "HighLatency on api-1:9100"
    assert opened["severity"] == "SEV1"
    assert opened["urgency"] == "high"
    detail = incident(client, auth, opened["number"])
    [alert] = detail["alerts"]
    assert alert["dedup_key"] == "4c2e0f9d5b8a7e61"
    assert alert["labels"]["instance"] == "api-1:9100"
    assert {link["text"] for link in alert["links"]} >= {"Source", "Runbook"}
    assert [e["kind"] for e in detail["timeline"]] == ["created"]


def test_duplicate_alertmanager_deliveries_are_harmless(
    client: TestClient, auth: dict[str, str], key: str
) -> None:
    for _ in range(3):
        assert (
            client.post(
                f"/integrations/alertmanager/{key}", json=alertmanager_message()
            ).status_code
            == 200
        )
    [opened] = incidents(client, auth)
    [alert] = incident(client, auth, opened["number"])["alerts"]
    assert alert["event_count"] == 3
    assert opened["alert_count"] == 1


def test_resolving_every_alert_resolves_the_incident(
    client: TestClient, auth: dict[str, str], key: str
) -> None:
    first = am_alert(fingerprint="aaaa000000000001", instance="api-1")
    second = am_alert(fingerprint="aaaa000000000002", instance="api-2")
    client.post(f"/integrations/alertmanager/{key}", json=alertmanager_message(first, second))
    [opened] = incidents(client, auth)
    assert opened["alert_count"] == 2

    resolved_first = am_alert(fingerprint="aaaa000000000001", instance="api-1", status="resolved")
    client.post(
        f"/integrations/alertmanager/{key}", json=alertmanager_message(resolved_first, second)
    )
    assert incidents(client, auth)[0]["status"] == "triggered"

    resolved_second = am_alert(fingerprint="aaaa000000000002", instance="api-2", status="resolved")
    client.post(f"/integrations/alertmanager/{key}", json=alertmanager_message(resolved_second))
    detail = incident(client, auth, opened["number"])
    assert detail["status"] == "resolved"
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds == ["created", "alert_added", "alert_resolved", "alert_resolved", "resolved"]


def test_a_storm_into_one_incident_is_one_timeline_entry_per_delivery_not_one_per_alert(
    client: TestClient, auth: dict[str, str], key: str
) -> None:
    storm = [am_alert(fingerprint=f"cccc{n:012d}", instance=f"api-{n}") for n in range(1, 151)]
    client.post(f"/integrations/alertmanager/{key}", json=alertmanager_message(*storm))
    resolved = [
        am_alert(fingerprint=f"cccc{n:012d}", instance=f"api-{n}", status="resolved")
        for n in range(1, 151)
    ]
    client.post(f"/integrations/alertmanager/{key}", json=alertmanager_message(*resolved))
    [only] = incidents(client, auth)
    assert only["alert_count"] == 150
    timeline = incident(client, auth, only["number"])["timeline"]
    assert [(e["kind"], e["message"]) for e in timeline] == [
        ("created", "Opened by alert: HighLatency on api-1"),
        (
            "alert_added",
            "149 alerts added: HighLatency on api-2, HighLatency on api-3, HighLatency on api-4"
            " and 146 more",
        ),
        (
            "alert_resolved",
            "150 alerts resolved: HighLatency on api-1, HighLatency on api-2,"
            " HighLatency on api-3 and 147 more",
        ),
        ("resolved", "Resolved: every alert has resolved"),
    ]
    added = timeline[1]["data"]
    assert added["count"] == 149
    assert len(added["alerts"]) == 100  # the first hundred are listed; the count has the rest
    assert added["alerts"][0]["dedup_key"] == "cccc000000000002"


def test_auto_resolve_can_be_turned_off(
    client: TestClient, auth: dict[str, str], make_service: Any, session: Session
) -> None:
    svc = make_service(auto_resolve=False)
    key = services.list_integration_keys(session, service_id=svc.id)[0].key
    client.post(f"/integrations/alertmanager/{key}", json=alertmanager_message())
    resolved = am_alert(status="resolved")
    client.post(f"/integrations/alertmanager/{key}", json=alertmanager_message(resolved))
    [opened] = incidents(client, auth)
    assert opened["status"] == "triggered"
    assert incident(client, auth, opened["number"])["alerts"][0]["status"] == "resolved"


def test_a_late_duplicate_of_a_resolved_alert_does_not_reopen_it(
    client: TestClient, auth: dict[str, str], key: str
) -> None:
    client.post(f"/integrations/alertmanager/{key}", json=alertmanager_message())
    client.post(
        f"/integrations/alertmanager/{key}", json=alertmanager_message(am_alert(status="resolved"))
    )
    client.post(f"/integrations/alertmanager/{key}", json=alertmanager_message())  # retried late
    assert len(incidents(client, auth)) == 1
    assert incidents(client, auth)[0]["status"] == "resolved"


def test_a_trigger_after_a_resolve_opens_a_new_alert(
    client: TestClient, auth: dict[str, str], key: str
) -> None:
    event = {"summary": "Queue stuck", "dedup_key": "queue", "severity": "warning"}
    client.post(f"/integrations/generic/{key}", json=event)
    client.post(f"/integrations/generic/{key}", json={"dedup_key": "queue", "action": "resolve"})
    client.post(f"/integrations/generic/{key}", json=event)
    listed = incidents(client, auth)
    assert [i["status"] for i in listed] == ["triggered", "resolved"]


def test_grafana_contact_point_opens_an_incident(
    client: TestClient, auth: dict[str, str], key: str
) -> None:
    assert client.post(f"/integrations/grafana/{key}", json=grafana_message()).status_code == 200
    [opened] = incidents(client, auth)
    assert opened["title"] == "Memory above 90% on web-3"
    assert opened["severity"] == "SEV3"
    [alert] = incident(client, auth, opened["number"])["alerts"]
    assert alert["integration_type"] == "grafana"
    assert alert["details"]["values"] == {"B": 91.3, "C": 1}
    assert {"Dashboard", "Panel", "Silence"} <= {link["text"] for link in alert["links"]}
    client.post(f"/integrations/grafana/{key}", json=grafana_message(status="resolved"))
    assert incidents(client, auth)[0]["status"] == "resolved"


def test_pagerduty_events_trigger_acknowledge_and_resolve(
    client: TestClient, auth: dict[str, str], key: str
) -> None:
    response = client.post("/v2/enqueue", json=pagerduty_trigger(key))
    assert response.status_code == 202
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "disk-db-1",
    }
    [opened] = incidents(client, auth)
    assert opened["severity"] == "SEV1"
    ack = {"routing_key": key, "event_action": "acknowledge", "dedup_key": "disk-db-1"}
    assert client.post("/v2/enqueue", json=ack).status_code == 202
    assert incidents(client, auth)[0]["status"] == "acknowledged"
    resolve = {"routing_key": key, "event_action": "resolve", "dedup_key": "disk-db-1"}
    assert client.post("/v2/enqueue", json=resolve).status_code == 202
    assert incidents(client, auth)[0]["status"] == "resolved"


def test_pagerduty_trigger_without_dedup_key_gets_one(client: TestClient, key: str) -> None:
    response = client.post("/v2/enqueue", json=pagerduty_trigger(key, dedup_key=None))
    assert response.status_code == 202
    assert len(response.json()["dedup_key"]) == 32


def test_pagerduty_ack_or_resolve_of_an_unknown_key_is_accepted_and_ignored(
    client: TestClient, auth: dict[str, str], key: str
) -> None:
    for action in ("acknowledge", "resolve"):
        body = {"routing_key": key, "event_action": action, "dedup_key": "never-seen"}
        assert client.post("/v2/enqueue", json=body).status_code == 202
    assert incidents(client, auth) == []


def test_pagerduty_change_events_are_recorded_not_paged(
    client: TestClient, auth: dict[str, str], key: str
) -> None:
    body = {
        "routing_key": key,
        "payload": {"summary": "Deployed checkout v42", "source": "ci"},
        "links": [{"href": "https://ci.example.com/42"}],
    }
    response = client.post("/v2/change/enqueue", json=body)
    assert response.status_code == 202
    assert response.json()["status"] == "success"
    assert incidents(client, auth) == []


def test_generic_events_accept_one_or_a_list(
    client: TestClient, auth: dict[str, str], key: str
) -> None:
    one = {"summary": "CPU hot", "severity": "warning", "labels": {"alertname": "cpu"}}
    assert client.post(f"/integrations/generic/{key}", json=one).status_code == 202
    many = [
        {"summary": "Disk A", "dedup_key": "a", "labels": {"alertname": "disk"}},
        {"summary": "Disk B", "dedup_key": "b", "labels": {"alertname": "disk"}},
    ]
    response = client.post(f"/integrations/generic/{key}", json=many)
    assert response.status_code == 202
    assert response.json()["dedup_keys"] == ["a", "b"]
    assert sorted(i["alert_count"] for i in incidents(client, auth)) == [1, 2]


def test_identical_generic_events_without_a_dedup_key_are_one_alert(
    client: TestClient, auth: dict[str, str], key: str
) -> None:
    event = {"summary": "CPU hot", "source": "web-1"}
    client.post(f"/integrations/generic/{key}", json=event)
    client.post(f"/integrations/generic/{key}", json=event)
    [opened] = incidents(client, auth)
    assert opened["alert_count"] == 1


def test_grouping_by_labels_joins_the_open_incident_within_the_window(
    client: TestClient, auth: dict[str, str], key: str, clock: FakeClock
) -> None:
    client.post(
        f"/integrations/generic/{key}",
        json={"summary": "a", "dedup_key": "1", "labels": {"alertname": "Disk"}},
    )
    clock.advance(minutes=30)
    client.post(
        f"/integrations/generic/{key}",
        json={"summary": "b", "dedup_key": "2", "labels": {"alertname": "Disk"}},
    )
    client.post(
        f"/integrations/generic/{key}",
        json={"summary": "c", "dedup_key": "3", "labels": {"alertname": "CPU"}},
    )
    assert sorted(i["alert_count"] for i in incidents(client, auth)) == [1, 2]
    clock.advance(minutes=31)  # the Disk incident is now older than the 1 h window
    client.post(
        f"/integrations/generic/{key}",
        json={"summary": "d", "dedup_key": "4", "labels": {"alertname": "Disk"}},
    )
    assert len(incidents(client, auth)) == 3


def test_an_alert_that_fires_again_in_its_open_incident_says_so_on_the_timeline(
    client: TestClient, auth: dict[str, str], key: str
) -> None:
    def send(dedup_key: str, action: str = "trigger") -> None:
        response = client.post(
            f"/integrations/generic/{key}",
            json={
                "summary": f"disk {dedup_key}",
                "dedup_key": dedup_key,
                "action": action,
                "labels": {"alertname": "Disk"},
            },
        )
        assert response.status_code == 202, response.text

    send("1")
    send("2")
    send("1", "resolve")  # alert 2 keeps the incident open
    send("1")
    send("3")
    [only] = incidents(client, auth)
    timeline = incident(client, auth, only["number"])["timeline"]
    assert [(e["kind"], e["message"]) for e in timeline if e["kind"].startswith("alert")] == [
        ("alert_added", "Alert added: disk 2"),
        ("alert_resolved", "Alert resolved: disk 1"),
        ("alert_refired", "Alert fired again: disk 1"),
        ("alert_added", "Alert added: disk 3"),
    ]


def test_a_repeat_of_an_alert_that_fired_again_is_only_counted(
    client: TestClient, auth: dict[str, str], key: str
) -> None:
    """The key's resolved alert is still in the database: the repeat must find the firing one."""

    def send(action: str = "trigger") -> None:
        response = client.post(
            f"/integrations/generic/{key}",
            json={"summary": "disk 1", "dedup_key": "1", "action": action},
        )
        assert response.status_code == 202, response.text

    send()
    client.post(
        f"/integrations/generic/{key}",
        json={"summary": "disk 2", "dedup_key": "2"},  # keeps the incident open
    )
    send("resolve")
    send()
    send()
    [only] = incidents(client, auth)
    detail = incident(client, auth, only["number"])
    counts = {a["status"]: a["event_count"] for a in detail["alerts"] if a["dedup_key"] == "1"}
    assert counts == {"resolved": 1, "firing": 2}
    kinds = [e["kind"] for e in detail["timeline"] if e["kind"].startswith("alert")]
    assert kinds == ["alert_added", "alert_resolved", "alert_refired"]


def test_an_alert_resolved_and_fired_again_in_one_request_says_it_fired_again(
    client: TestClient, auth: dict[str, str], key: str
) -> None:
    def event(dedup_key: str, action: str = "trigger") -> dict[str, Any]:
        return {
            "summary": f"disk {dedup_key}",
            "dedup_key": dedup_key,
            "action": action,
            "labels": {"alertname": "Disk"},
        }

    client.post(f"/integrations/generic/{key}", json=[event("1"), event("2")])
    response = client.post(f"/integrations/generic/{key}", json=[event("1", "resolve"), event("1")])
    assert response.status_code == 202, response.text
    [only] = incidents(client, auth)
    timeline = incident(client, auth, only["number"])["timeline"]
    assert {(e["kind"], e["message"]) for e in timeline if e["kind"].startswith("alert_r")} == {
        ("alert_resolved", "Alert resolved: disk 1"),
        ("alert_refired", "Alert fired again: disk 1"),
    }


def test_without_grouping_every_alert_opens_its_own_incident(
    client: TestClient, auth: dict[str, str], make_service: Any, session: Session
) -> None:
    svc = make_service(grouping_mode="none")
    key = services.list_integration_keys(session, service_id=svc.id)[0].key
    first = am_alert(fingerprint="b000000000000001")
    second = am_alert(fingerprint="b000000000000002")
    client.post(f"/integrations/alertmanager/{key}", json=alertmanager_message(first, second))
    assert len(incidents(client, auth)) == 2


def test_as_sent_grouping_follows_alertmanager_group_keys(
    client: TestClient, auth: dict[str, str], make_service: Any, session: Session
) -> None:
    svc = make_service(grouping_mode="as_sent")
    key = services.list_integration_keys(session, service_id=svc.id)[0].key
    a = am_alert("A", fingerprint="c000000000000001")
    b = am_alert("B", fingerprint="c000000000000002")
    c = am_alert("C", fingerprint="c000000000000003")
    client.post(
        f"/integrations/alertmanager/{key}", json=alertmanager_message(a, b, group_key="g1")
    )
    client.post(f"/integrations/alertmanager/{key}", json=alertmanager_message(c, group_key="g2"))
    assert sorted(i["alert_count"] for i in incidents(client, auth)) == [1, 2]


def test_incident_severity_follows_the_worst_alert_until_a_person_sets_it(
    client: TestClient, auth: dict[str, str], key: str
) -> None:
    labels = {"alertname": "Disk"}
    client.post(
        f"/integrations/generic/{key}",
        json={"summary": "a", "dedup_key": "1", "severity": "warning", "labels": labels},
    )
    assert incidents(client, auth)[0]["severity"] == "SEV3"
    client.post(
        f"/integrations/generic/{key}",
        json={"summary": "b", "dedup_key": "2", "severity": "critical", "labels": labels},
    )
    [opened] = incidents(client, auth)
    assert opened["severity"] == "SEV1"
    number = opened["number"]
    response = client.post(
        f"/api/v1/incidents/{number}/severity",
        headers=auth,
        json={"severity": "SEV3", "reason": "only staging is affected"},
    )
    assert response.status_code == 200
    client.post(
        f"/integrations/generic/{key}",
        json={"summary": "c", "dedup_key": "3", "severity": "critical", "labels": labels},
    )
    detail = incident(client, auth, number)
    assert detail["severity"] == "SEV3"
    changes = [e for e in detail["timeline"] if e["kind"] == "severity_changed"]
    assert changes[-1]["actor_user_id"] is not None
    assert "only staging is affected" in changes[-1]["message"]


def test_service_severity_mapping_applies_to_its_alerts(
    client: TestClient, auth: dict[str, str], make_service: Any, session: Session
) -> None:
    svc = make_service(severity_mapping={"critical": "SEV2"})
    key = services.list_integration_keys(session, service_id=svc.id)[0].key
    client.post(f"/integrations/alertmanager/{key}", json=alertmanager_message())
    assert incidents(client, auth)[0]["severity"] == "SEV2"


def test_prometheus_alerts_stay_firing_while_refreshed_and_expire_otherwise(
    client: TestClient, auth: dict[str, str], key: str, clock: FakeClock, db: Any
) -> None:
    from vigil.integrations.expiry import expire_alerts

    path = f"/integrations/prometheus/{key}/api/v2/alerts"
    assert client.post(path, json=[prometheus_alert()]).status_code == 200
    clock.advance(minutes=3)
    client.post(path, json=[prometheus_alert(ends_at="2026-03-02T09:07:00Z")])  # refreshed
    clock.advance(minutes=3)  # 09:06: the first endsAt (09:04) passed, the refresh holds
    with db.unit_of_work() as s:
        assert expire_alerts(s, now=clock.now()) == 0
    assert incidents(client, auth)[0]["status"] == "triggered"
    clock.advance(minutes=2)  # 09:08: past the refreshed endsAt
    with db.unit_of_work() as s:
        assert expire_alerts(s, now=clock.now()) == 1
    [opened] = incidents(client, auth)
    assert opened["status"] == "resolved"
    [alert] = incident(client, auth, opened["number"])["alerts"]
    assert alert["event_count"] == 2


def test_prometheus_alert_with_past_ends_at_is_resolved(
    client: TestClient, auth: dict[str, str], key: str
) -> None:
    path = f"/integrations/prometheus/{key}/api/v2/alerts"
    client.post(path, json=[prometheus_alert()])
    resolved = prometheus_alert(ends_at="2026-03-02T08:59:00Z")
    client.post(path, json=[resolved])
    assert incidents(client, auth)[0]["status"] == "resolved"


def test_prometheus_probe_endpoints_answer(client: TestClient, key: str) -> None:
    assert client.get(f"/integrations/prometheus/{key}/api/v2/status").status_code == 200
    assert client.get(f"/integrations/prometheus/{key}/-/healthy").status_code == 200


def test_acknowledging_an_incident_acknowledges_it_as_a_whole(
    client: TestClient, auth: dict[str, str], key: str, service: Service
) -> None:
    first = am_alert(fingerprint="d000000000000001")
    second = am_alert(fingerprint="d000000000000002")
    client.post(f"/integrations/alertmanager/{key}", json=alertmanager_message(first, second))
    [opened] = incidents(client, auth)
    response = client.post(f"/api/v1/incidents/{opened['number']}/acknowledge", headers=auth)
    assert response.status_code == 200
    assert response.json()["status"] == "acknowledged"
    assert response.json()["acknowledged_by_id"] is not None


def test_resolving_an_incident_by_hand_resolves_its_firing_alerts(
    client: TestClient, auth: dict[str, str], key: str
) -> None:
    client.post(f"/integrations/alertmanager/{key}", json=alertmanager_message())
    [opened] = incidents(client, auth)
    client.post(
        f"/api/v1/incidents/{opened['number']}/resolve", headers=auth, json={"note": "fixed"}
    )
    detail = incident(client, auth, opened["number"])
    assert detail["status"] == "resolved"
    assert [a["status"] for a in detail["alerts"]] == ["resolved"]
    # The same alert firing again now opens a new incident.
    client.post(
        f"/integrations/alertmanager/{key}",
        json=alertmanager_message(am_alert(starts_at="2026-03-02T09:30:00Z")),
    )
    assert len(incidents(client, auth)) == 2


def test_notes_are_attributed_to_the_tokens_user(
    client: TestClient, auth: dict[str, str], key: str, admin: Any
) -> None:
    client.post(f"/integrations/alertmanager/{key}", json=alertmanager_message())
    [opened] = incidents(client, auth)
    response = client.post(
        f"/api/v1/incidents/{opened['number']}/notes", headers=auth, json={"text": "looking"}
    )
    assert response.status_code == 201
    assert response.json()["actor_user_id"] == admin.id


def test_incident_list_filters_and_paginates_newest_first(
    client: TestClient, auth: dict[str, str], key: str, clock: FakeClock
) -> None:
    for n in range(5):
        clock.advance(timedelta(minutes=1))
        severity = "critical" if n % 2 else "info"
        client.post(
            f"/integrations/generic/{key}",
            json={
                "summary": f"s{n}",
                "dedup_key": str(n),
                "severity": severity,
                "labels": {"alertname": str(n)},
            },
        )
    page = client.get("/api/v1/incidents", headers=auth, params={"limit": 2}).json()
    assert [i["title"] for i in page["items"]] == ["s4", "s3"]
    page2 = client.get(
        "/api/v1/incidents", headers=auth, params={"limit": 2, "cursor": page["next_cursor"]}
    ).json()
    assert [i["title"] for i in page2["items"]] == ["s2", "s1"]
    sev1 = incidents(client, auth, severity="SEV1")
    assert [i["title"] for i in sev1] == ["s3", "s1"]
    assert incidents(client, auth, status="resolved") == []
