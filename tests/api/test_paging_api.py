"""The paging REST API and the signed link pages: what a user can set up, what is refused with an
error that names the field (and nothing written), and acting on an incident from a notification."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.engine.conftest import Recorder, trigger
from vigil.accounts.models import Role, User
from vigil.clock import FakeClock
from vigil.engine.runner import Engine, EngineConfig
from vigil.escalation.models import EscalationPolicy, IncidentEscalation
from vigil.incidents.models import Incident
from vigil.notify.channels import ChannelKind, ChannelSet, SendResult
from vigil.notify.links import LinkAction, sign
from vigil.notify.models import ChannelDestination, ContactMethod, Notification, NotificationRule
from vigil.schedules import service as schedules
from vigil.schedules.schemas import ScheduleCreate
from vigil.services import service as services
from vigil.storage.db import Database
from vigil.timeline.models import IncidentEvent

TABLES = (
    ContactMethod,
    NotificationRule,
    Notification,
    EscalationPolicy,
    ChannelDestination,
    IncidentEvent,
    IncidentEscalation,
)


def footprint(db: Database) -> dict[str, Any]:
    """Every row paging could write, so a refused request can be shown to have written none."""
    with db.read_session() as session:
        counts: dict[str, Any] = {
            table.__tablename__: session.scalar(sa.select(sa.func.count()).select_from(table))
            for table in TABLES
        }
        counts["incidents"] = session.execute(
            sa.select(
                Incident.id, Incident.status, Incident.acknowledged_by_id, Incident.resolved_at
            ).order_by(Incident.id)
        ).all()
        counts["escalations"] = session.execute(
            sa.select(
                IncidentEscalation.incident_id,
                IncidentEscalation.state,
                IncidentEscalation.next_level,
                IncidentEscalation.cycle,
                IncidentEscalation.next_at,
            ).order_by(IncidentEscalation.incident_id)
        ).all()
        counts["messages"] = session.execute(
            sa.select(Notification.id, Notification.status).order_by(Notification.id)
        ).all()
        counts["verified"] = session.execute(
            sa.select(ContactMethod.id, ContactMethod.verified_at).order_by(ContactMethod.id)
        ).all()
        counts["policies"] = session.execute(
            sa.select(EscalationPolicy.id, EscalationPolicy.version).order_by(EscalationPolicy.id)
        ).all()
    return counts


def refused(response: Any, status: int, field: str | None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]
    if field is not None:
        assert body["field"] == field, body


@dataclass
class Team:
    """Alice then Bob on a two-level policy for `payments`, with verified email, via the API."""

    alice: User
    bob: User
    olive: User  # an observer
    admin: dict[str, str]
    as_alice: dict[str, str]
    as_bob: dict[str, str]
    as_olive: dict[str, str]
    policy_id: int
    service_id: int
    key: str


def add_verified_email(
    client: TestClient, db: Database, user: User, headers: dict[str, str]
) -> int:
    """Add an email address and verify it with the code Vigil sent to it, as a person would."""
    response = client.post(
        f"/api/v1/users/{user.id}/contact-methods",
        headers=headers,
        json={"kind": "email", "address": user.email},
    )
    assert response.status_code == 201, response.text
    method_id: int = response.json()["id"]
    response = client.post(
        f"/api/v1/users/{user.id}/contact-methods/{method_id}/verify",
        headers=headers,
        json={"code": sent_code(db, method_id)},
    )
    assert response.status_code == 200, response.text
    return method_id


def sent_code(db: Database, method_id: int) -> str:
    """The code in the verification message queued for a contact method."""
    with db.read_session() as session:
        content = session.scalar(
            sa.select(Notification.content).where(
                Notification.contact_method_id == method_id, Notification.kind == "verify"
            )
        )
    assert content is not None
    code: str = content["body"].removeprefix("Verification code: ")
    assert code.isdigit() and len(code) == 6
    return code


@pytest.fixture
def team(
    client: TestClient, db: Database, auth: dict[str, str], make_user: Any, make_token: Any
) -> Team:
    alice = make_user(Role.RESPONDER, name="Alice", email="alice@example.com")
    bob = make_user(Role.RESPONDER, name="Bob", email="bob@example.com")
    olive = make_user(Role.OBSERVER, name="Olive", email="olive@example.com")
    as_alice = {"Authorization": f"Bearer {make_token(alice)}"}
    as_bob = {"Authorization": f"Bearer {make_token(bob)}"}
    as_olive = {"Authorization": f"Bearer {make_token(olive)}"}
    for user, headers in ((alice, as_alice), (bob, as_bob), (olive, as_olive)):
        add_verified_email(client, db, user, headers)
    response = client.post(
        "/api/v1/escalation-policies",
        headers=auth,
        json={
            "name": "Payments",
            "levels": [
                {"targets": [{"type": "user", "id": alice.id}], "delay_minutes": 5},
                {"targets": [{"type": "user", "id": bob.id}], "delay_minutes": 5},
            ],
        },
    )
    assert response.status_code == 201, response.text
    policy_id = response.json()["id"]
    response = client.post(
        "/api/v1/services",
        headers=auth,
        json={"name": "payments", "grouping_mode": "none", "escalation_policy_id": policy_id},
    )
    assert response.status_code == 201, response.text
    service = response.json()
    return Team(
        alice,
        bob,
        olive,
        auth,
        as_alice,
        as_bob,
        as_olive,
        policy_id,
        service["id"],
        service["integration_keys"][0]["key"],
    )


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def worker(
    client: TestClient, db: Database, clock: FakeClock, recorder: Recorder
) -> Iterator[Engine]:
    """An engine that sends through a recording channel, signing links like the app does."""
    channels = ChannelSet(dict.fromkeys(ChannelKind, recorder))
    config = EngineConfig(
        command=client.app.state.command, channels=channels, send_threads=1, max_attempts=3
    )
    engine = Engine(db, clock, config, holder="api-test-worker")
    # The verification emails of the team's setup are not what these tests are about.
    engine.run_cycle()
    recorder.clear()
    yield engine
    engine.close()


# --- contact methods -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "address"),
    [
        ("email", "not-an-email"),
        ("email", "alice@"),
        ("email", "alice @example.com"),
        ("sms", "030 1234567"),
        ("sms", "+0301234567"),
        ("voice", "4930123456"),
        ("voice", "+49 30 123456"),
        ("slack", "ftp://hooks.slack.com/services/T/B/x"),
        ("teams", "javascript:alert(1)"),
        ("push", "ntfy.sh/alerts"),
        ("push", "https://"),
    ],
)
def test_a_contact_method_with_an_invalid_address_is_refused_naming_the_address(
    client: TestClient, db: Database, team: Team, kind: str, address: str
) -> None:
    before = footprint(db)
    response = client.post(
        f"/api/v1/users/{team.alice.id}/contact-methods",
        headers=team.as_alice,
        json={"kind": kind, "address": address},
    )
    refused(response, 422, "address")
    assert footprint(db) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "pager", "address": "alice@example.com"}, "kind"),
        ({"kind": "email", "address": ""}, "address"),
        ({"kind": "email"}, "address"),
        ({"kind": "email", "address": "a@example.com", "colour": "red"}, "colour"),
    ],
)
def test_a_malformed_contact_method_is_refused_naming_the_field(
    client: TestClient, db: Database, team: Team, body: dict[str, Any], field: str
) -> None:
    before = footprint(db)
    response = client.post(
        f"/api/v1/users/{team.alice.id}/contact-methods", headers=team.as_alice, json=body
    )
    refused(response, 422, field)
    assert footprint(db) == before


@pytest.mark.parametrize(
    ("kind", "address"),
    [
        ("sms", "+4930123456"),
        ("voice", "+14155550123"),
        ("slack", "https://hooks.slack.com/services/T0/B0/xyz"),
        ("teams", "https://prod.westeurope.logic.azure.com/workflows/1/triggers/manual"),
        ("push", "http://ntfy.local:8080/alerts"),
    ],
)
def test_a_new_contact_method_gets_a_code_and_default_rules_but_pages_only_once_verified(
    client: TestClient, db: Database, team: Team, kind: str, address: str
) -> None:
    response = client.post(
        f"/api/v1/users/{team.bob.id}/contact-methods",
        headers=team.as_bob,
        json={"kind": kind, "address": address, "label": "mine"},
    )
    assert response.status_code == 201, response.text
    method = response.json()
    assert (method["kind"], method["address"], method["verified_at"]) == (kind, address, None)
    assert sent_code(db, method["id"])
    rules = client.get(f"/api/v1/users/{team.bob.id}/notification-rules", headers=team.as_bob)
    assert method["id"] in {rule["contact_method_id"] for rule in rules.json()}


def test_verifying_with_a_wrong_code_is_refused_and_the_right_code_verifies(
    client: TestClient, db: Database, team: Team
) -> None:
    response = client.post(
        f"/api/v1/users/{team.alice.id}/contact-methods",
        headers=team.as_alice,
        json={"kind": "sms", "address": "+4930123456"},
    )
    method_id = response.json()["id"]
    code = sent_code(db, method_id)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    url = f"/api/v1/users/{team.alice.id}/contact-methods/{method_id}/verify"
    before = footprint(db)
    refused(client.post(url, headers=team.as_alice, json={"code": wrong}), 422, "code")
    refused(client.post(url, headers=team.as_alice, json={"code": ""}), 422, "code")
    assert footprint(db) == before
    response = client.post(url, headers=team.as_alice, json={"code": code})
    assert response.status_code == 200, response.text
    assert response.json()["verified_at"] == "2026-03-02T09:00:00Z"
    methods = client.get(f"/api/v1/users/{team.alice.id}/contact-methods", headers=team.as_alice)
    assert all(m["verified_at"] for m in methods.json())


def test_a_rule_pointing_at_another_users_contact_method_is_refused(
    client: TestClient, db: Database, team: Team
) -> None:
    alices = client.get(f"/api/v1/users/{team.alice.id}/contact-methods", headers=team.admin)
    alice_method = alices.json()[0]["id"]
    before = footprint(db)
    for method_id in (alice_method, 999_999):
        response = client.post(
            f"/api/v1/users/{team.bob.id}/notification-rules",
            headers=team.as_bob,
            json={"urgency": "high", "contact_method_id": method_id, "delay_minutes": 2},
        )
        refused(response, 422, "contact_method_id")
    assert footprint(db) == before


def test_a_rule_on_ones_own_contact_method_is_kept(client: TestClient, team: Team) -> None:
    bobs = client.get(f"/api/v1/users/{team.bob.id}/contact-methods", headers=team.as_bob)
    response = client.post(
        f"/api/v1/users/{team.bob.id}/notification-rules",
        headers=team.as_bob,
        json={"urgency": "high", "contact_method_id": bobs.json()[0]["id"], "delay_minutes": 2},
    )
    assert response.status_code == 201, response.text
    rules = client.get(f"/api/v1/users/{team.bob.id}/notification-rules", headers=team.as_bob)
    assert {"urgency": "high", "delay_minutes": 2} in [
        {"urgency": r["urgency"], "delay_minutes": r["delay_minutes"]} for r in rules.json()
    ]


def test_members_cannot_change_other_peoples_contact_methods_or_rules(
    client: TestClient, db: Database, team: Team
) -> None:
    alices = client.get(f"/api/v1/users/{team.alice.id}/contact-methods", headers=team.as_bob)
    assert alices.status_code == 200  # reading who can be reached is fine
    alice_method = alices.json()[0]["id"]
    base = f"/api/v1/users/{team.alice.id}"
    before = footprint(db)
    for headers in (team.as_bob, team.as_olive):
        attempts = [
            client.post(
                f"{base}/contact-methods",
                headers=headers,
                json={"kind": "email", "address": "attacker@example.com"},
            ),
            client.post(
                f"{base}/contact-methods/{alice_method}/verify", headers=headers, json={"code": "1"}
            ),
            client.delete(f"{base}/contact-methods/{alice_method}", headers=headers),
            client.post(
                f"{base}/notification-rules",
                headers=headers,
                json={"urgency": "low", "contact_method_id": alice_method},
            ),
        ]
        for response in attempts:
            refused(response, 403, None)
    assert footprint(db) == before


def test_an_admin_may_manage_anyones_contact_methods(client: TestClient, team: Team) -> None:
    response = client.post(
        f"/api/v1/users/{team.alice.id}/contact-methods",
        headers=team.admin,
        json={"kind": "voice", "address": "+4930123456"},
    )
    assert response.status_code == 201, response.text
    deleted = client.delete(
        f"/api/v1/users/{team.alice.id}/contact-methods/{response.json()['id']}", headers=team.admin
    )
    assert deleted.status_code == 204


# --- escalation policies -------------------------------------------------------------------


def a_level(user_id: int, **extra: Any) -> dict[str, Any]:
    return {"targets": [{"type": "user", "id": user_id}], **extra}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"levels": []}, "levels"),
        ({"levels": None}, "levels"),  # explicitly null, also when editing
        ({"levels": [{"targets": []}]}, "levels[0].targets"),
        ({"levels": [{"delay_minutes": 5}]}, "levels[0].targets"),
        ({"levels": "ALICE", "repeat": 1}, "levels"),
        ({"delay_minutes": -1}, "levels[0].delay_minutes"),
        ({"delay_minutes": 1441}, "levels[0].delay_minutes"),
        ({"delay_minutes": 5.5}, "levels[0].delay_minutes"),
        ({"mode": "random"}, "levels[0].mode"),
        ({"repeat": 10}, "repeat"),
        ({"repeat": -1}, "repeat"),
        ({"target": {"type": "user", "id": 999_999}}, "levels[0].targets[0].id"),
        ({"target": {"type": "schedule", "id": 999_999}}, "levels[0].targets[0].id"),
        ({"target": {"type": "team", "id": 999_999}}, "levels[0].targets[0].id"),
        ({"target": {"type": "channel", "id": 999_999}}, "levels[0].targets[0].id"),
        ({"target": {"type": "robot", "id": 1}}, "levels[0].targets[0].type"),
        (
            {"management_targets": [{"type": "user", "id": 999_999}]},
            "management_targets[0].id",
        ),
        ({"name": "   "}, "name"),
        ({"team_id": 999_999}, "team_id"),
    ],
)
def test_an_invalid_policy_is_refused_naming_the_field_and_nothing_is_written(
    client: TestClient, db: Database, team: Team, change: dict[str, Any], field: str
) -> None:
    change = dict(change)  # the same parameters serve both databases
    level = a_level(team.alice.id)
    for key in ("delay_minutes", "mode"):
        if key in change:
            level[key] = change.pop(key)
    if "target" in change:
        level["targets"] = [change.pop("target")]
    body = {"name": "Night shift", "levels": [level], **change}
    before = footprint(db)
    refused(client.post("/api/v1/escalation-policies", headers=team.admin, json=body), 422, field)
    refused(
        client.patch(
            f"/api/v1/escalation-policies/{team.policy_id}", headers=team.admin, json=body
        ),
        422,
        field,
    )
    assert footprint(db) == before


def test_a_policy_is_created_read_and_edited_with_a_new_version(
    client: TestClient, team: Team
) -> None:
    response = client.post(
        "/api/v1/escalation-policies",
        headers=team.admin,
        json={
            "name": "Night shift",
            "levels": [
                a_level(team.alice.id, delay_minutes=0),
                {
                    "targets": [
                        {"type": "user", "id": team.alice.id},
                        {"type": "user", "id": team.bob.id},
                    ],
                    "delay_minutes": 1440,
                    "mode": "round_robin",
                },
            ],
            "repeat": 9,
        },
    )
    assert response.status_code == 201, response.text
    policy = response.json()
    assert (policy["version"], policy["repeat"], len(policy["levels"])) == (1, 9, 2)
    read = client.get(f"/api/v1/escalation-policies/{policy['id']}", headers=team.as_olive)
    assert read.json()["levels"][1]["mode"] == "round_robin"
    edited = client.patch(
        f"/api/v1/escalation-policies/{policy['id']}", headers=team.admin, json={"repeat": 0}
    )
    assert (edited.json()["version"], edited.json()["repeat"]) == (2, 0)
    duplicate = client.post(
        "/api/v1/escalation-policies",
        headers=team.admin,
        json={"name": "Night shift", "levels": [a_level(team.bob.id)]},
    )
    refused(duplicate, 409, "name")


def test_only_admins_manage_escalation_policies(
    client: TestClient, db: Database, team: Team
) -> None:
    body = {"name": "Mine", "levels": [a_level(team.alice.id)]}
    before = footprint(db)
    for headers in (team.as_alice, team.as_olive):
        refused(client.post("/api/v1/escalation-policies", headers=headers, json=body), 403, None)
        refused(
            client.patch(
                f"/api/v1/escalation-policies/{team.policy_id}", headers=headers, json={"repeat": 2}
            ),
            403,
            None,
        )
        refused(
            client.delete(f"/api/v1/escalation-policies/{team.policy_id}", headers=headers),
            403,
            None,
        )
    assert footprint(db) == before


# --- shared channels -----------------------------------------------------------------------


def test_channels_are_created_listed_and_deleted_by_admins(
    client: TestClient, db: Database, team: Team
) -> None:
    response = client.post(
        "/api/v1/channels",
        headers=team.admin,
        json={
            "name": "#payments-alerts",
            "kind": "webhook",
            "address": "https://hooks.example.com/vigil",
            "secret": "s3cret",
        },
    )
    assert response.status_code == 201, response.text
    channel = response.json()
    assert "secret" not in channel  # the signing secret is write-only
    listed = client.get("/api/v1/channels", headers=team.as_olive).json()
    assert [(c["id"], c["name"], c["kind"]) for c in listed] == [
        (channel["id"], "#payments-alerts", "webhook")
    ]
    before = footprint(db)
    refused(
        client.post(
            "/api/v1/channels",
            headers=team.admin,
            json={"name": "#payments-alerts", "kind": "slack", "address": "https://x.example"},
        ),
        409,
        "name",
    )
    refused(
        client.post(
            "/api/v1/channels",
            headers=team.admin,
            json={"name": "ops", "kind": "slack", "address": "file:///etc/passwd"},
        ),
        422,
        "address",
    )
    refused(
        client.post(
            "/api/v1/channels",
            headers=team.admin,
            json={"name": "ops", "kind": "sms", "address": "+4930123456"},
        ),
        422,
        "kind",
    )
    refused(
        client.post(
            "/api/v1/channels",
            headers=team.as_alice,
            json={"name": "ops", "kind": "slack", "address": "https://hooks.slack.com/x"},
        ),
        403,
        None,
    )
    refused(client.delete(f"/api/v1/channels/{channel['id']}", headers=team.as_alice), 403, None)
    assert footprint(db) == before
    assert client.delete(f"/api/v1/channels/{channel['id']}", headers=team.admin).status_code == 204
    assert client.get("/api/v1/channels", headers=team.admin).json() == []
    refused(client.delete(f"/api/v1/channels/{channel['id']}", headers=team.admin), 404, None)


# --- an incident's escalation and messages -------------------------------------------------


def test_the_incident_shows_who_is_paged_next_and_when(
    client: TestClient, team: Team, worker: Engine
) -> None:
    number = trigger(client, team.key)
    plan = client.get(f"/api/v1/incidents/{number}/escalation", headers=team.as_olive).json()
    assert [(s["level"], s["targets"], s["at"]) for s in plan["plan"]] == [
        (1, ["Alice"], "2026-03-02T09:00:00Z"),
        (2, ["Bob"], "2026-03-02T09:05:00Z"),
    ]
    worker.run_cycle()
    plan = client.get(f"/api/v1/incidents/{number}/escalation", headers=team.as_olive).json()
    assert (plan["state"], plan["policy_id"], plan["policy_version"]) == (
        "active",
        team.policy_id,
        1,
    )
    assert plan["plan"] == [
        {
            "level": 2,
            "cycle": 0,
            "at": "2026-03-02T09:05:00Z",
            "targets": ["Bob"],
            "fired": False,
        }
    ]


def test_the_plan_names_whoever_is_on_call_when_the_level_fires(
    client: TestClient, db: Database, team: Team, worker: Engine, clock: FakeClock
) -> None:
    with db.unit_of_work() as session:
        primary = schedules.create_schedule(
            session,
            data=ScheduleCreate.model_validate(
                {
                    "name": "Primary",
                    "time_zone": "UTC",
                    "layers": [
                        {
                            "name": "hourly",
                            "start": "2026-03-02T08:03:00Z",
                            "participants": [team.alice.id, team.bob.id],
                            "rotation": {"unit": "hours", "length": 1},
                        }
                    ],
                }
            ),
            actor_id=None,
            now=clock.now(),
        )
        schedule_id = primary.id
    response = client.patch(
        f"/api/v1/escalation-policies/{team.policy_id}",
        headers=team.admin,
        json={
            "levels": [
                a_level(team.alice.id, delay_minutes=7),
                {"targets": [{"type": "schedule", "id": schedule_id}]},
            ]
        },
    )
    assert response.status_code == 200, response.text
    number = trigger(client, team.key)
    worker.run_cycle()
    plan = client.get(f"/api/v1/incidents/{number}/escalation", headers=team.admin).json()
    # Alice is on call now, but Bob takes over at 09:03, before level 2 fires at 09:07.
    assert [(s["level"], s["targets"], s["at"]) for s in plan["plan"]] == [
        (2, ["Bob (on call for Primary)"], "2026-03-02T09:07:00Z")
    ]


def test_an_incident_without_a_policy_has_no_escalation_to_show(
    client: TestClient, team: Team, make_service: Any, session: Session
) -> None:
    quiet = make_service(name="quiet", grouping_mode="none")
    key = services.list_integration_keys(session, service_id=quiet.id)[0].key
    number = trigger(client, key)
    refused(client.get(f"/api/v1/incidents/{number}/escalation", headers=team.admin), 404, None)
    refused(client.get("/api/v1/incidents/999999/escalation", headers=team.admin), 404, None)


def test_the_incident_lists_its_messages_with_status_and_attempts(
    client: TestClient, team: Team, worker: Engine, recorder: Recorder, clock: FakeClock
) -> None:
    number = trigger(client, team.key)
    worker.run_cycle()
    recorder.failures = [SendResult.transient("503 from provider")]
    clock.advance(minutes=5)
    worker.run_cycle()
    messages = client.get(f"/api/v1/incidents/{number}/notifications", headers=team.as_olive)
    assert messages.status_code == 200
    assert [
        (m["address"], m["kind"], m["level"], m["status"], m["attempts"], m["last_error"])
        for m in messages.json()
    ] == [
        ("alice@example.com", "page", 0, "sent", 1, None),
        ("bob@example.com", "page", 1, "pending", 1, "503 from provider"),
    ]
    assert messages.json()[0]["provider_id"] == "p1"


@pytest.mark.parametrize(("level", "field"), [(3, "level"), (0, "level"), (21, "level")])
def test_escalating_to_a_level_the_policy_does_not_have_is_refused(
    client: TestClient, db: Database, team: Team, worker: Engine, level: int, field: str
) -> None:
    number = trigger(client, team.key)
    worker.run_cycle()
    before = footprint(db)
    response = client.post(
        f"/api/v1/incidents/{number}/escalate", headers=team.as_alice, json={"level": level}
    )
    refused(response, 422, field)
    assert footprint(db) == before


def test_escalating_by_hand_pages_the_chosen_level_now(
    client: TestClient, team: Team, worker: Engine, recorder: Recorder
) -> None:
    number = trigger(client, team.key)
    worker.run_cycle()
    refused(
        client.post(
            f"/api/v1/incidents/{number}/escalate", headers=team.as_olive, json={"level": 2}
        ),
        403,
        None,
    )
    response = client.post(
        f"/api/v1/incidents/{number}/escalate", headers=team.as_alice, json={"level": 2}
    )
    assert response.status_code == 200, response.text
    worker.run_cycle()
    assert recorder.addresses() == ["alice@example.com", "bob@example.com"]
    client.post(f"/api/v1/incidents/{number}/resolve", headers=team.as_alice)
    refused(
        client.post(
            f"/api/v1/incidents/{number}/escalate", headers=team.as_alice, json={"level": 1}
        ),
        409,
        None,
    )


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 422, "user_id"),
        ({"user_id": None, "escalation_policy_id": None}, 422, "user_id"),
        ({"user_id": "both", "escalation_policy_id": "both"}, 422, "user_id"),
        ({"user_id": 999_999}, 404, None),
        ({"escalation_policy_id": 999_999}, 404, None),
        ({"user": "bob"}, 422, "user"),
    ],
)
def test_reassigning_to_nobody_or_nobody_known_is_refused_and_changes_nothing(
    client: TestClient,
    db: Database,
    team: Team,
    worker: Engine,
    body: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    number = trigger(client, team.key)
    worker.run_cycle()
    if body.get("user_id") == "both":
        body = {"user_id": team.bob.id, "escalation_policy_id": team.policy_id}
    before = footprint(db)
    refused(
        client.post(f"/api/v1/incidents/{number}/reassign", headers=team.as_alice, json=body),
        status,
        field,
    )
    assert footprint(db) == before


# --- signed links in notifications ---------------------------------------------------------


def page_link(recorder: Recorder, label: str, address: str = "alice@example.com") -> str:
    """The path of a link in the last page sent to `address`."""
    [*_, message] = [m for d, m in recorder.sent if d.address == address]
    [url] = [link.url for link in message.links if link.label == label]
    assert url.startswith("http://vigil.test/a/")
    return url.removeprefix("http://vigil.test")


@pytest.fixture
def paged(client: TestClient, team: Team, worker: Engine) -> int:
    """An incident whose first page (to Alice) has gone out."""
    number = trigger(client, team.key)
    worker.run_cycle()
    return number


def test_opening_an_acknowledge_link_asks_first_and_changes_nothing(
    client: TestClient, db: Database, team: Team, recorder: Recorder, paged: int
) -> None:
    before = footprint(db)
    response = client.get(page_link(recorder, "Acknowledge"))
    assert response.status_code == 200
    assert f"Acknowledge incident #{paged}" in response.text
    assert 'method="post"' in response.text
    assert "Alice" in response.text
    assert footprint(db) == before


def test_the_acknowledge_button_acknowledges_as_the_person_paged_and_stops_escalation(
    client: TestClient,
    team: Team,
    worker: Engine,
    recorder: Recorder,
    clock: FakeClock,
    paged: int,
) -> None:
    response = client.post(page_link(recorder, "Acknowledge"))
    assert response.status_code == 200
    assert "Acknowledged by Alice." in response.text
    incident = client.get(f"/api/v1/incidents/{paged}", headers=team.admin).json()
    assert (incident["status"], incident["acknowledged_by_id"]) == ("acknowledged", team.alice.id)
    clock.advance(minutes=10)
    worker.run_cycle()
    assert recorder.addresses() == ["alice@example.com"]  # Bob is never paged


def test_the_resolve_link_resolves(
    client: TestClient, team: Team, recorder: Recorder, paged: int
) -> None:
    response = client.post(page_link(recorder, "Resolve"))
    assert response.status_code == 200
    assert "Resolved by Alice." in response.text
    incident = client.get(f"/api/v1/incidents/{paged}", headers=team.admin).json()
    assert (incident["status"], incident["resolved_by_id"]) == ("resolved", team.alice.id)


def test_the_open_link_shows_the_incident_but_cannot_act(
    client: TestClient, db: Database, recorder: Recorder, paged: int
) -> None:
    before = footprint(db)
    shown = client.get(page_link(recorder, "Open"))
    assert shown.status_code == 200
    assert f"#{paged}" in shown.text
    assert "<form" not in shown.text
    assert client.post(page_link(recorder, "Open")).status_code == 403
    assert footprint(db) == before


def tampered_links(path: str, team: Team) -> list[str]:
    incident, action, user, expires, signature = path.removeprefix("/a/").split(".")
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    return [
        f"/a/{int(incident) + 1}.{action}.{user}.{expires}.{signature}",
        f"/a/{incident}.resolve.{user}.{expires}.{signature}",
        f"/a/{incident}.{action}.{team.bob.id}.{expires}.{signature}",
        f"/a/{incident}.{action}.{user}.{int(expires) + 86400}.{signature}",
        f"/a/{incident}.{action}.{user}.{expires}.{flipped}",
        f"/a/{incident}.{action}.{user}.{expires}",
        "/a/not-a-link",
    ]


def test_a_tampered_link_is_refused_and_nothing_changes(
    client: TestClient, db: Database, team: Team, recorder: Recorder, paged: int
) -> None:
    before = footprint(db)
    for path in tampered_links(page_link(recorder, "Acknowledge"), team):
        for response in (client.get(path), client.post(path)):
            assert response.status_code == 403, path
            assert "not valid" in response.text
            assert "<form" not in response.text
    assert footprint(db) == before


def test_an_expired_link_says_so_offers_the_login_and_changes_nothing(
    client: TestClient, db: Database, recorder: Recorder, clock: FakeClock, paged: int
) -> None:
    path = page_link(recorder, "Acknowledge")
    clock.advance(hours=25)
    before = footprint(db)
    for response in (client.get(path), client.post(path)):
        assert response.status_code == 410
        assert "expired" in response.text
        assert 'href="/"' in response.text
    assert footprint(db) == before


def test_a_link_to_a_resolved_incident_says_it_is_resolved(
    client: TestClient, db: Database, team: Team, recorder: Recorder, paged: int
) -> None:
    path = page_link(recorder, "Acknowledge")
    assert client.post(f"/api/v1/incidents/{paged}/resolve", headers=team.as_bob).status_code == 200
    before = footprint(db)
    shown = client.get(path)
    assert shown.status_code == 200
    assert "already resolved" in shown.text
    assert "<form" not in shown.text
    used = client.post(path)
    assert used.status_code == 409
    assert "already resolved" in used.text
    assert footprint(db) == before


def test_an_observers_link_cannot_act(
    client: TestClient, db: Database, team: Team, clock: FakeClock, paged: int
) -> None:
    secret = client.app.state.links.secret
    token = sign(
        secret,
        incident_id=paged,
        action=LinkAction.ACKNOWLEDGE,
        user_id=team.olive.id,
        now=clock.now(),
    )
    before = footprint(db)
    shown = client.get(f"/a/{token}")
    assert shown.status_code == 200
    assert "<form" not in shown.text
    used = client.post(f"/a/{token}")
    assert used.status_code == 403
    assert footprint(db) == before


def test_a_link_to_an_incident_that_does_not_exist_is_not_found(
    client: TestClient, team: Team, clock: FakeClock
) -> None:
    secret = client.app.state.links.secret
    token = sign(
        secret,
        incident_id=999_999,
        action=LinkAction.RESOLVE,
        user_id=team.alice.id,
        now=clock.now(),
    )
    assert client.get(f"/a/{token}").status_code == 404
    assert client.post(f"/a/{token}").status_code == 404


def test_a_link_signed_before_the_server_secret_changed_is_refused(
    client: TestClient, db: Database, team: Team, clock: FakeClock, paged: int
) -> None:
    token = sign(
        "an-old-secret",
        incident_id=paged,
        action=LinkAction.ACKNOWLEDGE,
        user_id=team.alice.id,
        now=clock.now(),
    )
    before = footprint(db)
    assert client.post(f"/a/{token}").status_code == 403
    assert footprint(db) == before


def test_links_expire_a_day_after_the_page_was_sent(
    client: TestClient, recorder: Recorder, clock: FakeClock, paged: int
) -> None:
    path = page_link(recorder, "Open")
    clock.advance(timedelta(hours=24) - timedelta(seconds=1))
    assert client.get(path).status_code == 200
    clock.advance(seconds=1)
    assert client.get(path).status_code == 410


def test_raising_a_low_urgency_incident_to_sev1_runs_the_whole_high_urgency_escalation(
    client: TestClient, team: Team, worker: Engine, recorder: Recorder, clock: FakeClock
) -> None:
    number = trigger(client, team.key, severity="warning")  # SEV3: low urgency, level 1 only
    worker.run_cycle()
    assert recorder.addresses() == ["alice@example.com"]
    response = client.post(
        f"/api/v1/incidents/{number}/severity",
        headers=team.admin,
        json={"severity": "SEV1", "reason": "every region"},
    )
    assert response.status_code == 200, response.text
    worker.run_cycle()
    clock.advance(minutes=5)
    worker.run_cycle()
    assert recorder.addresses() == ["alice@example.com", "alice@example.com", "bob@example.com"]


def test_escalating_by_hand_after_the_policy_ran_out_shows_the_step_in_the_plan(
    client: TestClient, team: Team, worker: Engine, recorder: Recorder, clock: FakeClock
) -> None:
    number = trigger(client, team.key)
    worker.run_cycle()
    clock.advance(minutes=5)
    worker.run_cycle()
    plan = client.get(f"/api/v1/incidents/{number}/escalation", headers=team.admin).json()
    assert (plan["state"], plan["plan"]) == ("exhausted", [])
    response = client.post(
        f"/api/v1/incidents/{number}/escalate", headers=team.as_alice, json={"level": 1}
    )
    assert response.status_code == 200, response.text
    plan = client.get(f"/api/v1/incidents/{number}/escalation", headers=team.admin).json()
    assert plan["state"] == "active"
    assert [(s["level"], s["targets"]) for s in plan["plan"]][:1] == [(1, ["Alice"])]


def test_reassigning_to_the_same_person_twice_in_a_second_is_not_refused(
    client: TestClient, team: Team, worker: Engine, recorder: Recorder
) -> None:
    number = trigger(client, team.key)
    for _ in range(2):
        response = client.post(
            f"/api/v1/incidents/{number}/reassign",
            headers=team.as_alice,
            json={"user_id": team.bob.id},
        )
        assert response.status_code == 200, response.text
    worker.run_cycle()
    assert "bob@example.com" in recorder.addresses()
