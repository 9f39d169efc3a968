"""Incident command through the REST API: declare, phases and their times, roles and handovers,
impact and severity, tasks from response plans, merge and link, every refusal the issue lists
(a clear error naming the field, nothing written), and what an observer may do."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import T0
from tests.payloads import alertmanager_message, am_alert
from vigil.accounts import service as accounts
from vigil.accounts.models import Role, User
from vigil.accounts.schemas import TeamCreate
from vigil.clock import FakeClock
from vigil.incidents import lifecycle
from vigil.incidents.impact import Thresholds
from vigil.incidents.models import IncidentStatus as S
from vigil.services import service as services
from vigil.services.models import Service

Json = dict[str, Any]


def at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def declare(client: TestClient, headers: dict[str, str], **body: Any) -> Json:
    payload = {"title": "Checkout is down", "severity": "SEV2", **body}
    response = client.post("/api/v1/incidents", headers=headers, json=payload)
    assert response.status_code == 201, response.text
    detail: Json = response.json()
    return detail


def detail(client: TestClient, headers: dict[str, str], number: int) -> Json:
    response = client.get(f"/api/v1/incidents/{number}", headers=headers)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


def move(
    client: TestClient, headers: dict[str, str], number: int, status: str, message: str = ""
) -> Any:
    return client.post(
        f"/api/v1/incidents/{number}/status",
        headers=headers,
        json={"status": status, "message": message},
    )


def moved(client: TestClient, headers: dict[str, str], number: int, status: str) -> Json:
    response = move(client, headers, number, status)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


def kinds(incident: Json) -> list[str]:
    return [event["kind"] for event in incident["timeline"]]


def messages(incident: Json, kind: str) -> list[str]:
    return [event["message"] for event in incident["timeline"] if event["kind"] == kind]


def all_incidents(client: TestClient, headers: dict[str, str]) -> list[Json]:
    response = client.get("/api/v1/incidents", headers=headers)
    assert response.status_code == 200, response.text
    items: list[Json] = response.json()["items"]
    return items


def refused(response: Any, status: int, field: str) -> Json:
    """A refusal: the status asked for and a JSON error naming the field."""
    assert response.status_code == status, response.text
    body: Json = response.json()
    assert body["field"] == field, body
    assert body["error"]
    return body


@dataclass
class People:
    """A team that owns `service`, one of its responders, an outsider and an observer."""

    service: Service
    member: User
    outsider: User
    observer: User
    member_auth: dict[str, str]
    observer_auth: dict[str, str]


@pytest.fixture
def people(
    session: Session, clock: FakeClock, make_user: Any, make_service: Any, make_token: Any
) -> People:
    team = accounts.create_team(session, data=TeamCreate(name="payments"), now=clock.now())
    session.commit()
    member = make_user(Role.RESPONDER, name="Maria", team_ids=[team.id])
    outsider = make_user(Role.RESPONDER, name="Otto")
    observer = make_user(Role.OBSERVER, name="Olga", team_ids=[team.id])
    service = make_service(name="payments-api", team_id=team.id, grouping_mode="none")
    return People(
        service=service,
        member=member,
        outsider=outsider,
        observer=observer,
        member_auth={"Authorization": f"Bearer {make_token(member)}"},
        observer_auth={"Authorization": f"Bearer {make_token(observer)}"},
    )


# --- lifecycle and phase timestamps ---------------------------------------------------------------


def test_declared_incident_is_investigating_with_the_declarer_as_commander(
    client: TestClient, auth: dict[str, str], admin: User, service: Service
) -> None:
    incident = declare(
        client, auth, title="Checkout errors", severity="SEV1", services=[service.id]
    )
    assert incident["status"] == "investigating"
    assert at(incident["investigating_at"]) == T0
    assert at(incident["started_at"]) == T0
    assert at(incident["detected_at"]) == T0
    assert incident["declared_by_id"] == admin.id
    assert incident["affected_service_ids"] == [service.id]
    assert [(r["role"], r["user_id"]) for r in incident["roles"]] == [("commander", admin.id)]
    assert kinds(incident) == ["declared", "role_assigned"]
    assert messages(incident, "role_assigned") == [f"{admin.name} is incident commander"]
    assert incident["allowed_moves"] == ["identified", "monitoring", "resolved"]


def test_each_phase_keeps_the_time_it_began(
    client: TestClient, auth: dict[str, str], clock: FakeClock
) -> None:
    number = declare(client, auth)["number"]
    clock.advance(minutes=10)
    identified = moved(client, auth, number, "identified")
    assert at(identified["identified_at"]) == T0 + timedelta(minutes=10)
    clock.advance(minutes=10)
    monitoring = moved(client, auth, number, "monitoring")
    assert at(monitoring["monitoring_at"]) == T0 + timedelta(minutes=20)
    clock.advance(minutes=10)
    back = moved(client, auth, number, "investigating")
    assert back["status"] == "investigating"
    assert at(back["investigating_at"]) == T0 + timedelta(minutes=30)
    clock.advance(minutes=10)
    resolved = moved(client, auth, number, "resolved")
    assert resolved["status"] == "resolved"
    assert at(resolved["resolved_at"]) == T0 + timedelta(minutes=40)
    assert at(resolved["identified_at"]) == T0 + timedelta(minutes=10)
    assert at(resolved["monitoring_at"]) == T0 + timedelta(minutes=20)
    changes = [e["data"] for e in resolved["timeline"] if e["kind"] == "status_changed"]
    assert [(c["from"], c["to"]) for c in changes] == [
        ("investigating", "identified"),
        ("identified", "monitoring"),
        ("monitoring", "investigating"),
    ]
    assert kinds(resolved)[-1] == "resolved"


def test_a_resolved_incident_reopens_within_seven_days(
    client: TestClient, auth: dict[str, str], clock: FakeClock
) -> None:
    number = declare(client, auth)["number"]
    moved(client, auth, number, "resolved")
    clock.advance(days=6, hours=23)
    reopened = moved(client, auth, number, "investigating")
    assert reopened["status"] == "investigating"
    assert reopened["resolved_at"] is None
    assert at(reopened["investigating_at"]) == T0 + timedelta(days=6, hours=23)
    assert "reopened" in kinds(reopened)


def test_reopening_after_seven_days_is_refused_with_409_and_changes_nothing(
    client: TestClient, auth: dict[str, str], clock: FakeClock
) -> None:
    number = declare(client, auth)["number"]
    moved(client, auth, number, "resolved")
    clock.advance(days=7, minutes=1)
    before = detail(client, auth, number)
    body = refused(move(client, auth, number, "investigating"), 409, "status")
    assert "7 days" in body["error"]
    assert body["allowed"] == []
    assert detail(client, auth, number) == before


def _incident_in(client: TestClient, auth: dict[str, str], service: Service, state: S) -> int:
    """A declared incident brought to `state` by allowed moves."""
    paged = state in (S.TRIGGERED, S.ACKNOWLEDGED)
    number: int = declare(client, auth, services=[service.id], page=paged)["number"]
    if state not in (S.TRIGGERED, S.INVESTIGATING):
        moved(client, auth, number, state)
    return number


@pytest.mark.parametrize("state", list(S))
def test_every_move_outside_the_lifecycle_is_refused_with_409_listing_the_allowed_ones(
    client: TestClient, auth: dict[str, str], service: Service, state: S
) -> None:
    number = _incident_in(client, auth, service, state)
    before = detail(client, auth, number)
    assert before["status"] == state
    allowed = [s.value for s in lifecycle.ALLOWED[state]]
    assert before["allowed_moves"] == allowed
    for target in S:
        if target in lifecycle.ALLOWED[state]:
            continue
        body = refused(move(client, auth, number, target), 409, "status")
        assert body["allowed"] == allowed, target
        assert all(name in body["error"] for name in allowed)
    assert detail(client, auth, number) == before


def test_an_incident_opened_by_an_alert_started_when_the_first_alert_did(
    client: TestClient, auth: dict[str, str], key: str
) -> None:
    message = alertmanager_message(
        am_alert(fingerprint="aaaa000000000001", starts_at="2026-03-02T08:41:00Z"),
        am_alert(fingerprint="aaaa000000000002", starts_at="2026-03-02T08:55:00Z", instance="b"),
    )
    assert client.post(f"/integrations/alertmanager/{key}", json=message).status_code == 200
    [opened] = all_incidents(client, auth)
    assert at(opened["started_at"]) == datetime.fromisoformat("2026-03-02T08:41:00+00:00")
    assert at(opened["detected_at"]) == T0


def test_started_at_can_be_corrected_by_hand(
    client: TestClient, auth: dict[str, str], clock: FakeClock
) -> None:
    number = declare(client, auth)["number"]
    earlier = (T0 - timedelta(hours=1)).isoformat()
    response = client.patch(
        f"/api/v1/incidents/{number}", headers=auth, json={"started_at": earlier}
    )
    assert response.status_code == 200, response.text
    assert at(response.json()["started_at"]) == T0 - timedelta(hours=1)
    assert "edited" in kinds(response.json())


# --- refusals: a clear error naming the field, nothing written ------------------------------------


def test_a_role_for_an_unknown_user_is_refused_and_changes_nothing(
    client: TestClient, auth: dict[str, str]
) -> None:
    number = declare(client, auth)["number"]
    before = detail(client, auth, number)
    response = client.post(
        f"/api/v1/incidents/{number}/roles",
        headers=auth,
        json={"role": "technical_lead", "user_id": 999999},
    )
    body = refused(response, 404, "user_id")
    assert "999999" in body["error"]
    assert detail(client, auth, number) == before


def test_declaring_with_an_unknown_commander_is_refused_and_writes_nothing(
    client: TestClient, auth: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/incidents",
        headers=auth,
        json={"title": "Down", "severity": "SEV1", "commander_id": 999999},
    )
    body = refused(response, 422, "commander")
    assert "999999" in body["error"]
    assert all_incidents(client, auth) == []


def test_declaring_for_an_unknown_service_is_refused_and_writes_nothing(
    client: TestClient, auth: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/incidents",
        headers=auth,
        json={"title": "Down", "severity": "SEV1", "services": [999999]},
    )
    refused(response, 422, "services[0]")
    assert all_incidents(client, auth) == []


def test_a_role_for_someone_outside_the_services_team_is_refused_naming_them(
    client: TestClient, auth: dict[str, str], people: People
) -> None:
    number = declare(client, auth, services=[people.service.id])["number"]
    before = detail(client, auth, number)
    response = client.post(
        f"/api/v1/incidents/{number}/roles",
        headers=auth,
        json={"role": "technical_lead", "user_id": people.outsider.id},
    )
    body = refused(response, 422, "user")
    assert "Otto" in body["error"]
    assert "team" in body["error"]
    assert detail(client, auth, number) == before
    # A member of the team may hold it.
    response = client.post(
        f"/api/v1/incidents/{number}/roles",
        headers=auth,
        json={"role": "technical_lead", "user_id": people.member.id},
    )
    assert response.status_code == 200, response.text


def test_declaring_with_a_commander_outside_the_services_team_writes_nothing(
    client: TestClient, auth: dict[str, str], people: People
) -> None:
    response = client.post(
        "/api/v1/incidents",
        headers=auth,
        json={
            "title": "Down",
            "severity": "SEV1",
            "services": [people.service.id],
            "commander_id": people.outsider.id,
        },
    )
    body = refused(response, 422, "commander")
    assert "Otto" in body["error"]
    assert all_incidents(client, auth) == []


def test_an_observer_cannot_hold_a_role(
    client: TestClient, auth: dict[str, str], people: People
) -> None:
    number = declare(client, auth, services=[people.service.id])["number"]
    before = detail(client, auth, number)
    response = client.post(
        f"/api/v1/incidents/{number}/roles",
        headers=auth,
        json={"role": "scribe", "user_id": people.observer.id},
    )
    body = refused(response, 422, "user")
    assert "observer" in body["error"]
    assert detail(client, auth, number) == before


def test_an_over_long_title_is_refused_and_writes_nothing(
    client: TestClient, auth: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/incidents", headers=auth, json={"title": "x" * 1025, "severity": "SEV1"}
    )
    refused(response, 422, "title")
    assert all_incidents(client, auth) == []


def test_over_long_edits_notes_tasks_and_updates_are_refused_and_change_nothing(
    client: TestClient, auth: dict[str, str]
) -> None:
    number = declare(client, auth)["number"]
    before = detail(client, auth, number)
    base = f"/api/v1/incidents/{number}"
    refused(client.patch(base, headers=auth, json={"title": "x" * 1025}), 422, "title")
    refused(
        client.post(f"{base}/updates", headers=auth, json={"message": "x" * 10_001}),
        422,
        "message",
    )
    refused(client.post(f"{base}/notes", headers=auth, json={"text": "x" * 10_001}), 422, "text")
    refused(client.post(f"{base}/tasks", headers=auth, json={"title": "x" * 501}), 422, "title")
    refused(
        client.post(
            f"{base}/status", headers=auth, json={"status": "identified", "message": "x" * 10_001}
        ),
        422,
        "message",
    )
    assert detail(client, auth, number) == before


@pytest.mark.parametrize("field", ["title", "description"])
def test_clearing_the_title_or_description_with_null_is_refused_with_422(
    client: TestClient, auth: dict[str, str], field: str
) -> None:
    number = declare(client, auth)["number"]
    before = detail(client, auth, number)
    response = client.patch(f"/api/v1/incidents/{number}", headers=auth, json={field: None})
    refused(response, 422, field)
    assert detail(client, auth, number) == before


def test_an_absurd_number_of_customers_is_refused_with_422(
    client: TestClient, auth: dict[str, str]
) -> None:
    number = declare(client, auth)["number"]
    before = detail(client, auth, number)
    response = client.put(
        f"/api/v1/incidents/{number}/impact", headers=auth, json={"customers_affected": 2**70}
    )
    refused(response, 422, "customers_affected")
    assert detail(client, auth, number) == before


def test_an_update_to_a_resolved_incident_is_refused_with_409(
    client: TestClient, auth: dict[str, str]
) -> None:
    number = declare(client, auth)["number"]
    moved(client, auth, number, "resolved")
    before = detail(client, auth, number)
    response = client.post(
        f"/api/v1/incidents/{number}/updates",
        headers=auth,
        json={"message": "All good now", "audience": "stakeholders"},
    )
    body = refused(response, 409, "status")
    assert "resolved" in body["error"]
    assert detail(client, auth, number) == before


def test_merging_an_incident_into_itself_is_refused_with_422(
    client: TestClient, auth: dict[str, str]
) -> None:
    number = declare(client, auth)["number"]
    before = detail(client, auth, number)
    response = client.post(f"/api/v1/incidents/{number}/merge", headers=auth, json={"into": number})
    body = refused(response, 422, "into")
    assert "itself" in body["error"]
    assert detail(client, auth, number) == before


def test_merging_into_an_incident_merged_already_is_refused_with_409(
    client: TestClient, auth: dict[str, str]
) -> None:
    first, second, third = (declare(client, auth, title=t)["number"] for t in "abc")
    merge = client.post(f"/api/v1/incidents/{first}/merge", headers=auth, json={"into": second})
    assert merge.status_code == 200, merge.text
    before = [detail(client, auth, n) for n in (first, second, third)]
    response = client.post(f"/api/v1/incidents/{third}/merge", headers=auth, json={"into": first})
    body = refused(response, 409, "into")
    assert f"#{second}" in body["error"]
    assert [detail(client, auth, n) for n in (first, second, third)] == before


def test_merging_an_incident_merged_already_again_is_refused_with_409(
    client: TestClient, auth: dict[str, str]
) -> None:
    first, second, third = (declare(client, auth, title=t)["number"] for t in "abc")
    merge = client.post(f"/api/v1/incidents/{first}/merge", headers=auth, json={"into": second})
    assert merge.status_code == 200, merge.text
    before = [detail(client, auth, n) for n in (first, second, third)]
    response = client.post(f"/api/v1/incidents/{first}/merge", headers=auth, json={"into": third})
    body = refused(response, 409, "number")
    assert "already merged" in body["error"]
    assert [detail(client, auth, n) for n in (first, second, third)] == before


def test_merging_into_an_unknown_incident_is_refused_with_422(
    client: TestClient, auth: dict[str, str]
) -> None:
    number = declare(client, auth)["number"]
    before = detail(client, auth, number)
    response = client.post(f"/api/v1/incidents/{number}/merge", headers=auth, json={"into": 999999})
    refused(response, 422, "into")
    assert detail(client, auth, number) == before


def test_a_merged_incident_cannot_be_moved_to_another_phase(
    client: TestClient, auth: dict[str, str]
) -> None:
    first, second = (declare(client, auth, title=t)["number"] for t in "ab")
    client.post(f"/api/v1/incidents/{first}/merge", headers=auth, json={"into": second})
    before = detail(client, auth, first)
    body = refused(move(client, auth, first, "investigating"), 409, "status")
    assert f"#{second}" in body["error"]
    assert detail(client, auth, first) == before


# --- merge and link -------------------------------------------------------------------------------


def integration_key(session: Session, service: Service) -> str:
    key: str = services.list_integration_keys(session, service_id=service.id)[0].key
    return key


def _fire(client: TestClient, key: str, dedup: str) -> int:
    response = client.post(
        f"/integrations/generic/{key}",
        json={"summary": f"{dedup} failing", "severity": "error", "dedup_key": dedup},
    )
    assert response.status_code == 202, response.text
    [number] = response.json()["incidents_opened"]
    return int(number)


def test_merging_moves_alerts_and_timeline_and_the_merged_one_says_where(
    client: TestClient, auth: dict[str, str], session: Session, people: People
) -> None:
    key = integration_key(session, people.service)
    source = _fire(client, key, "db-disk")
    target = _fire(client, key, "db-latency")
    source_events = {e["id"] for e in detail(client, auth, source)["timeline"]}
    response = client.post(f"/api/v1/incidents/{source}/merge", headers=auth, json={"into": target})
    assert response.status_code == 200, response.text
    merged_into = response.json()
    assert merged_into["number"] == target
    assert sorted(a["dedup_key"] for a in merged_into["alerts"]) == ["db-disk", "db-latency"]
    assert merged_into["alert_count"] == 2
    assert source_events <= {e["id"] for e in merged_into["timeline"]}
    assert f"#{source} merged into this incident" in messages(merged_into, "merged")[0]
    merged = detail(client, auth, source)
    assert merged["status"] == "resolved"
    assert merged["merged_into_id"] == target
    assert merged["alerts"] == []
    assert messages(merged, "merged") == [f"Merged into #{target}"]


def test_linked_incidents_show_each_other_as_related(
    client: TestClient, auth: dict[str, str]
) -> None:
    first, second = (declare(client, auth, title=t)["number"] for t in "ab")
    response = client.post(
        f"/api/v1/incidents/{first}/links", headers=auth, json={"incident": second}
    )
    assert response.status_code == 204, response.text
    assert detail(client, auth, first)["related"] == [second]
    assert detail(client, auth, second)["related"] == [first]
    assert messages(detail(client, auth, second), "linked") == [f"Related to #{first}"]
    # Linking again (from the other side) adds nothing.
    again = client.post(f"/api/v1/incidents/{second}/links", headers=auth, json={"incident": first})
    assert again.status_code == 204
    assert len(messages(detail(client, auth, first), "linked")) == 1


def test_linking_an_incident_to_itself_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    number = declare(client, auth)["number"]
    before = detail(client, auth, number)
    response = client.post(
        f"/api/v1/incidents/{number}/links", headers=auth, json={"incident": number}
    )
    refused(response, 422, "incident")
    assert detail(client, auth, number) == before


# --- roles and handovers --------------------------------------------------------------------------


def assign(client: TestClient, auth: dict[str, str], number: int, role: str, user: User) -> Json:
    response = client.post(
        f"/api/v1/incidents/{number}/roles", headers=auth, json={"role": role, "user_id": user.id}
    )
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


def test_handing_over_command_is_on_the_timeline_with_both_names(
    client: TestClient, auth: dict[str, str], admin: User, make_user: Any
) -> None:
    bea = make_user(Role.RESPONDER, name="Bea")
    number = declare(client, auth)["number"]
    incident = assign(client, auth, number, "commander", bea)
    assert [(r["role"], r["user_id"]) for r in incident["roles"]] == [("commander", bea.id)]
    assert messages(incident, "role_handed_over") == [
        f"{admin.name} handed incident commander to Bea"
    ]
    [event] = [e for e in incident["timeline"] if e["kind"] == "role_handed_over"]
    assert event["actor_user_id"] == admin.id
    assert event["data"]["from_user_id"] == admin.id
    assert event["data"]["user_id"] == bea.id


def test_a_role_holder_sees_the_roles_duties(
    client: TestClient, auth: dict[str, str], make_user: Any
) -> None:
    cem = make_user(Role.RESPONDER, name="Cem")
    number = declare(client, auth)["number"]
    incident = assign(client, auth, number, "communications_manager", cem)
    duties = {r["role"]: r["duties"] for r in incident["roles"]}
    assert duties["communications_manager"] == lifecycle.ROLE_DUTIES["communications_manager"]
    assert duties["commander"] == lifecycle.ROLE_DUTIES["commander"]
    assert all(duties.values())
    guidance = client.get("/api/v1/severity-guidance", headers=auth).json()
    assert guidance["roles"] == lifecycle.ROLE_DUTIES
    assert guidance["severities"] == lifecycle.SEVERITY_GUIDANCE


def test_there_can_be_several_subject_matter_experts(
    client: TestClient, auth: dict[str, str], make_user: Any
) -> None:
    dev, eve = make_user(name="Dev"), make_user(name="Eve")
    number = declare(client, auth)["number"]
    assign(client, auth, number, "subject_matter_expert", dev)
    incident = assign(client, auth, number, "subject_matter_expert", eve)
    experts = [r["user_id"] for r in incident["roles"] if r["role"] == "subject_matter_expert"]
    assert sorted(experts) == sorted([dev.id, eve.id])
    assert messages(incident, "role_assigned")[-2:] == [
        "Dev is subject matter expert",
        "Eve is subject matter expert",
    ]
    # Assigning a role someone holds already changes nothing.
    again = assign(client, auth, number, "subject_matter_expert", eve)
    assert again == detail(client, auth, number)
    assert len(again["timeline"]) == len(incident["timeline"])


def test_a_removed_role_is_gone_and_the_timeline_says_so(
    client: TestClient, auth: dict[str, str], make_user: Any
) -> None:
    fay = make_user(name="Fay")
    number = declare(client, auth)["number"]
    assign(client, auth, number, "scribe", fay)
    response = client.delete(f"/api/v1/incidents/{number}/roles/scribe/{fay.id}", headers=auth)
    assert response.status_code == 204, response.text
    incident = detail(client, auth, number)
    assert [r["role"] for r in incident["roles"]] == ["commander"]
    assert messages(incident, "role_removed") == ["Fay is no longer scribe"]
    again = client.delete(f"/api/v1/incidents/{number}/roles/scribe/{fay.id}", headers=auth)
    refused(again, 404, "user_id")
    assert detail(client, auth, number) == incident


# --- impact, severity suggestion, severity changes ------------------------------------------------


def test_impact_assessment_suggests_a_severity_without_changing_it(
    client: TestClient, auth: dict[str, str], admin: User
) -> None:
    number = declare(client, auth, severity="SEV3")["number"]
    impact = {
        "customers_affected": 25_000,
        "customers_estimated": True,
        "regions": ["eu-west-1"],
        "customer_facing": True,
        "scope": "partial_outage",
        "sla_breached": True,
    }
    response = client.put(f"/api/v1/incidents/{number}/impact", headers=auth, json=impact)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "severity": "SEV1",
        "reasons": ["≥ 10,000 customers affected"],
        "current": "SEV3",
    }
    incident = detail(client, auth, number)
    assert incident["severity"] == "SEV3"
    assert incident["impact"]["customers_affected"] == 25_000
    assert incident["impact"]["regions"] == ["eu-west-1"]
    [event] = [e for e in incident["timeline"] if e["kind"] == "impact_assessed"]
    assert "suggests SEV1" in event["message"]
    assert "severity stays SEV3" in event["message"]
    assert event["actor_user_id"] == admin.id
    assert event["data"]["suggested"] == "SEV1"


def test_impact_suggestions_follow_the_configured_thresholds(
    client: TestClient, auth: dict[str, str]
) -> None:
    client.app.state.command = dataclasses.replace(  # type: ignore[attr-defined]
        client.app.state.command,  # type: ignore[attr-defined]
        thresholds=Thresholds(sev2_customers=10),
    )
    number = declare(client, auth, severity="SEV4")["number"]
    response = client.put(
        f"/api/v1/incidents/{number}/impact", headers=auth, json={"customers_affected": 12}
    )
    assert response.json()["severity"] == "SEV2"


def test_an_impact_assessment_with_unknown_fields_is_refused(
    client: TestClient, auth: dict[str, str]
) -> None:
    number = declare(client, auth)["number"]
    before = detail(client, auth, number)
    response = client.put(
        f"/api/v1/incidents/{number}/impact", headers=auth, json={"customers_affected": -1}
    )
    refused(response, 422, "customers_affected")
    assert detail(client, auth, number) == before


def test_a_severity_change_is_on_the_timeline_with_who_and_why(
    client: TestClient, auth: dict[str, str], admin: User
) -> None:
    number = declare(client, auth, severity="SEV3")["number"]
    response = client.post(
        f"/api/v1/incidents/{number}/severity",
        headers=auth,
        json={"severity": "SEV1", "reason": "all card payments failing"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["severity"] == "SEV1"
    incident = detail(client, auth, number)
    [event] = [e for e in incident["timeline"] if e["kind"] == "severity_changed"]
    assert event["actor_user_id"] == admin.id
    assert event["message"] == (
        "Severity changed from SEV3 to SEV1 because all card payments failing"
    )
    assert event["data"] == {"from": "SEV3", "to": "SEV1", "reason": "all card payments failing"}


# --- notes, pins, war room ------------------------------------------------------------------------


def test_a_timeline_entry_can_be_pinned_and_unpinned(
    client: TestClient, auth: dict[str, str]
) -> None:
    number = declare(client, auth)["number"]
    note = client.post(
        f"/api/v1/incidents/{number}/notes", headers=auth, json={"text": "Rolled back v42"}
    )
    assert note.status_code == 201, note.text
    event_id = note.json()["id"]
    base = f"/api/v1/incidents/{number}/timeline/{event_id}/pin"
    assert client.post(base, headers=auth).status_code == 204
    pinned = [e for e in detail(client, auth, number)["timeline"] if e["pinned"]]
    assert [e["message"] for e in pinned] == ["Rolled back v42"]
    assert client.post(base, headers=auth, params={"pinned": "false"}).status_code == 204
    assert not any(e["pinned"] for e in detail(client, auth, number)["timeline"])


def test_a_backfilled_note_carries_when_it_happened_and_is_marked_edited(
    client: TestClient, auth: dict[str, str], clock: FakeClock
) -> None:
    number = declare(client, auth)["number"]
    clock.advance(minutes=30)
    happened = T0 + timedelta(minutes=5)
    response = client.post(
        f"/api/v1/incidents/{number}/notes",
        headers=auth,
        json={"text": "Deploy v42 went out", "pinned": True, "occurred_at": happened.isoformat()},
    )
    assert response.status_code == 201, response.text
    note = response.json()
    assert at(note["at"]) == happened
    assert at(note["recorded_at"]) == T0 + timedelta(minutes=30)
    assert note["pinned"] is True


def test_the_war_room_link_comes_from_the_template(
    client: TestClient, auth: dict[str, str]
) -> None:
    client.app.state.command = dataclasses.replace(  # type: ignore[attr-defined]
        client.app.state.command,  # type: ignore[attr-defined]
        war_room_template="https://meet.example.com/inc-{number}",
    )
    incident = declare(client, auth)
    assert incident["war_room_url"] == f"https://meet.example.com/inc-{incident['number']}"


# --- response plans and tasks ---------------------------------------------------------------------


def plan(client: TestClient, auth: dict[str, str], service: Service, **body: Any) -> Json:
    payload = {
        "name": "Payments down",
        "severities": ["SEV1"],
        "runbook_url": "https://runbooks.example.com/payments",
        "checklist": ["Freeze deploys", "Page the database on-call"],
        **body,
    }
    response = client.post(
        f"/api/v1/services/{service.id}/response-plans", headers=auth, json=payload
    )
    assert response.status_code == 201, response.text
    created: Json = response.json()
    return created


PLAN_TASKS = [
    "Open the runbook: https://runbooks.example.com/payments",
    "Freeze deploys",
    "Page the database on-call",
]


def test_a_response_plan_becomes_tasks_when_an_incident_of_its_severity_is_declared(
    client: TestClient, auth: dict[str, str], service: Service
) -> None:
    created = plan(client, auth, service)
    incident = declare(client, auth, severity="SEV1", services=[service.id])
    assert [t["title"] for t in incident["tasks"]] == PLAN_TASKS
    assert {t["from_plan_id"] for t in incident["tasks"]} == {created["id"]}
    assert {t["status"] for t in incident["tasks"]} == {"open"}
    other = declare(client, auth, severity="SEV3", services=[service.id])
    assert other["tasks"] == []


def test_a_response_plan_becomes_tasks_when_an_alert_opens_the_incident(
    client: TestClient, auth: dict[str, str], service: Service, key: str
) -> None:
    plan(client, auth, service)
    client.post(f"/integrations/alertmanager/{key}", json=alertmanager_message())
    [opened] = all_incidents(client, auth)
    assert opened["severity"] == "SEV1"
    assert [t["title"] for t in detail(client, auth, opened["number"])["tasks"]] == PLAN_TASKS


def test_tasks_are_added_and_completed_on_the_timeline(
    client: TestClient, auth: dict[str, str], clock: FakeClock, make_user: Any
) -> None:
    gus = make_user(name="Gus")
    number = declare(client, auth)["number"]
    due = (T0 + timedelta(hours=1)).isoformat()
    response = client.post(
        f"/api/v1/incidents/{number}/tasks",
        headers=auth,
        json={"title": "Fail over to replica", "assignee_id": gus.id, "due_at": due},
    )
    assert response.status_code == 201, response.text
    task = response.json()
    assert task["status"] == "open"
    assert task["assignee_id"] == gus.id
    assert at(task["due_at"]) == T0 + timedelta(hours=1)
    clock.advance(minutes=12)
    done = client.patch(
        f"/api/v1/incidents/{number}/tasks/{task['id']}", headers=auth, json={"status": "done"}
    )
    assert done.status_code == 200, done.text
    assert at(done.json()["completed_at"]) == T0 + timedelta(minutes=12)
    incident = detail(client, auth, number)
    assert incident["tasks"][0]["status"] == "done"
    assert messages(incident, "task_added") == ["Task added: Fail over to replica"]
    assert messages(incident, "task_updated") == ["Task 'Fail over to replica': status → done"]
    reopened = client.patch(
        f"/api/v1/incidents/{number}/tasks/{task['id']}", headers=auth, json={"status": "open"}
    )
    assert reopened.json()["completed_at"] is None


def test_a_task_for_an_unknown_assignee_or_incident_is_refused(
    client: TestClient, auth: dict[str, str]
) -> None:
    number = declare(client, auth)["number"]
    before = detail(client, auth, number)
    response = client.post(
        f"/api/v1/incidents/{number}/tasks",
        headers=auth,
        json={"title": "Fail over", "assignee_id": 999999},
    )
    refused(response, 404, "user_id")
    missing = client.post("/api/v1/incidents/999999/tasks", headers=auth, json={"title": "x"})
    assert missing.status_code == 404
    wrong = client.patch(
        f"/api/v1/incidents/{number}/tasks/999999", headers=auth, json={"status": "done"}
    )
    refused(wrong, 404, "task_id")
    assert detail(client, auth, number) == before


# --- permissions ----------------------------------------------------------------------------------


def test_an_observer_can_read_an_incident_but_not_act_on_it(
    client: TestClient, auth: dict[str, str], people: People, service: Service
) -> None:
    number = declare(client, auth, services=[people.service.id])["number"]
    before = detail(client, auth, number)
    assert detail(client, people.observer_auth, number) == before
    base = f"/api/v1/incidents/{number}"
    attempts = [
        ("post", "/api/v1/incidents", {"title": "Mine", "severity": "SEV1"}),
        ("post", f"{base}/status", {"status": "identified"}),
        ("post", f"{base}/updates", {"message": "Still down", "audience": "stakeholders"}),
        ("post", f"{base}/tasks", {"title": "Look at it"}),
        ("post", f"{base}/roles", {"role": "scribe", "user_id": people.member.id}),
        ("post", f"{base}/severity", {"severity": "SEV1", "reason": "worse"}),
        ("post", f"{base}/notes", {"text": "hello"}),
        ("put", f"{base}/impact", {"customers_affected": 5}),
        ("patch", base, {"title": "Renamed"}),
        ("post", f"{base}/merge", {"into": number}),
        (
            "post",
            f"/api/v1/services/{service.id}/response-plans",
            {"name": "p", "severities": ["SEV1"]},
        ),
    ]
    for method, url, body in attempts:
        response = client.request(method, url, headers=people.observer_auth, json=body)
        assert response.status_code == 403, (url, response.text)
        assert response.json()["error"]
    assert detail(client, auth, number) == before
    assert [i["number"] for i in all_incidents(client, auth)] == [number]


def test_a_responder_of_the_team_can_run_the_incident(
    client: TestClient, auth: dict[str, str], people: People
) -> None:
    incident = declare(client, people.member_auth, services=[people.service.id])
    assert [(r["role"], r["user_id"]) for r in incident["roles"]] == [
        ("commander", people.member.id)
    ]
    assert moved(client, people.member_auth, incident["number"], "identified")["status"] == (
        "identified"
    )
