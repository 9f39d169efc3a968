"""Paging scenarios driven by the FakeClock: who gets paged, when, and when it stops."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.engine.conftest import Paging, Recorder, trigger
from vigil.clock import FakeClock
from vigil.engine.runner import Engine
from vigil.escalation import service as escalation
from vigil.escalation.schemas import PolicyUpdate
from vigil.notify.channels import SendResult
from vigil.schedules import service as schedules
from vigil.schedules.schemas import ScheduleCreate
from vigil.services import service as services
from vigil.services.schemas import ServiceUpdate


def test_unacknowledged_incident_escalates_and_ack_stops_it(
    client: TestClient,
    auth: dict[str, str],
    paging: Paging,
    worker: Engine,
    recorder: Recorder,
    clock: FakeClock,
) -> None:
    number = trigger(client, paging.key)
    worker.run_cycle()
    assert recorder.addresses() == ["alice@example.com"]
    clock.advance(minutes=4)
    worker.run_cycle()
    assert recorder.addresses() == ["alice@example.com"]
    clock.advance(minutes=1)
    worker.run_cycle()
    assert recorder.addresses() == ["alice@example.com", "bob@example.com"]
    assert client.post(f"/api/v1/incidents/{number}/acknowledge", headers=auth).status_code == 200
    for _ in range(5):
        clock.advance(minutes=5)
        worker.run_cycle()
    assert recorder.addresses() == ["alice@example.com", "bob@example.com"]
    kinds = [
        e["kind"]
        for e in client.get(f"/api/v1/incidents/{number}", headers=auth).json()["timeline"]
    ]
    assert kinds.count("escalated") == 2
    assert kinds.count("notified") == 2


def test_pages_carry_signed_ack_resolve_and_open_links(
    client: TestClient, paging: Paging, worker: Engine, recorder: Recorder
) -> None:
    trigger(client, paging.key)
    worker.run_cycle()
    [(_destination, message)] = recorder.sent
    assert [link.label for link in message.links] == ["Acknowledge", "Resolve", "Open"]
    assert message.severity == "SEV2"
    assert message.idempotency_key.startswith("inc")


def test_policy_repeats_the_given_number_of_times(
    client: TestClient,
    paging: Paging,
    worker: Engine,
    recorder: Recorder,
    clock: FakeClock,
    session: Session,
) -> None:
    escalation.update_policy(
        session, policy_id=paging.policy_id, data=PolicyUpdate(repeat=2), now=clock.now()
    )
    session.commit()
    trigger(client, paging.key)
    for _ in range(20):
        worker.run_cycle()
        clock.advance(minutes=5)
    assert recorder.addresses() == ["alice@example.com", "bob@example.com"] * 3


def test_resolving_stops_everything_still_pending(
    client: TestClient,
    auth: dict[str, str],
    paging: Paging,
    worker: Engine,
    recorder: Recorder,
    clock: FakeClock,
) -> None:
    number = trigger(client, paging.key)
    client.post(f"/api/v1/incidents/{number}/resolve", headers=auth)
    for _ in range(4):
        worker.run_cycle()
        clock.advance(minutes=5)
    assert recorder.sent == []


def test_a_policy_edited_mid_escalation_does_not_change_the_running_one(
    client: TestClient,
    paging: Paging,
    worker: Engine,
    recorder: Recorder,
    clock: FakeClock,
    session: Session,
) -> None:
    trigger(client, paging.key)
    worker.run_cycle()
    escalation.update_policy(
        session,
        policy_id=paging.policy_id,
        data=PolicyUpdate.model_validate(
            {"levels": [{"targets": [{"type": "user", "id": paging.carol.id}], "delay_minutes": 1}]}
        ),
        now=clock.now(),
    )
    session.commit()
    clock.advance(minutes=5)
    worker.run_cycle()
    assert recorder.addresses() == ["alice@example.com", "bob@example.com"]
    recorder.clear()
    trigger(client, paging.key, dedup="another")  # a new incident uses the new version
    worker.run_cycle()
    assert recorder.addresses() == ["carol@example.com"]


def management(session: Session, paging: Paging, clock: FakeClock) -> None:
    escalation.update_policy(
        session,
        policy_id=paging.policy_id,
        data=PolicyUpdate.model_validate(
            {"management_targets": [{"type": "user", "id": paging.carol.id}]}
        ),
        now=clock.now(),
    )
    session.commit()


def test_sev1_tells_the_management_list(
    client: TestClient,
    paging: Paging,
    worker: Engine,
    recorder: Recorder,
    session: Session,
    clock: FakeClock,
) -> None:
    management(session, paging, clock)
    trigger(client, paging.key, severity="critical")
    worker.run_cycle()
    assert sorted(recorder.addresses()) == ["alice@example.com", "carol@example.com"]


def test_raising_severity_to_sev1_tells_management(
    client: TestClient,
    auth: dict[str, str],
    paging: Paging,
    worker: Engine,
    recorder: Recorder,
    session: Session,
    clock: FakeClock,
) -> None:
    management(session, paging, clock)
    number = trigger(client, paging.key, severity="warning")
    worker.run_cycle()
    assert recorder.addresses() == ["alice@example.com"]
    client.post(
        f"/api/v1/incidents/{number}/severity",
        headers=auth,
        json={"severity": "SEV1", "reason": "all regions"},
    )
    worker.run_cycle()
    assert "carol@example.com" in recorder.addresses()


def test_low_urgency_outside_support_hours_waits_for_the_window(
    client: TestClient,
    paging: Paging,
    worker: Engine,
    recorder: Recorder,
    clock: FakeClock,
    session: Session,
) -> None:
    services.update_service(
        session,
        service_id=paging.service.id,
        data=ServiceUpdate.model_validate(
            {
                "support_hours": {
                    "time_zone": "Europe/Berlin",
                    "days": ["mon", "tue", "wed", "thu", "fri"],
                    "start": "09:00",
                    "end": "18:00",
                }
            }
        ),
        now=clock.now(),
    )
    session.commit()
    clock.set(datetime(2026, 3, 6, 19, 0, tzinfo=UTC))  # Friday 20:00 in Berlin
    trigger(client, paging.key, severity="warning")  # SEV3: low urgency
    worker.run_cycle()
    clock.set(datetime(2026, 3, 8, 12, 0, tzinfo=UTC))  # Sunday
    worker.run_cycle()
    assert recorder.sent == []
    clock.set(datetime(2026, 3, 9, 8, 0, tzinfo=UTC))  # Monday 09:00 Berlin
    worker.run_cycle()
    assert recorder.addresses() == ["alice@example.com"]
    clock.advance(minutes=30)
    worker.run_cycle()
    assert recorder.addresses() == ["alice@example.com"]  # low urgency never escalates


def test_a_schedule_handoff_mid_escalation_pages_the_new_on_call_person(
    client: TestClient,
    paging: Paging,
    worker: Engine,
    recorder: Recorder,
    clock: FakeClock,
    session: Session,
) -> None:
    # Alice until 09:03, then Bob (3-minute... no: an hourly rotation anchored so the handoff
    # falls between level 1 and level 2).
    schedule = schedules.create_schedule(
        session,
        data=ScheduleCreate.model_validate(
            {
                "name": "Primary",
                "time_zone": "UTC",
                "layers": [
                    {
                        "name": "hourly",
                        "start": "2026-03-02T08:03:00Z",
                        "participants": [paging.alice.id, paging.bob.id],
                        "rotation": {"unit": "hours", "length": 1},
                    }
                ],
            }
        ),
        actor_id=None,
        now=clock.now(),
    )
    escalation.update_policy(
        session,
        policy_id=paging.policy_id,
        data=PolicyUpdate.model_validate(
            {
                "levels": [
                    {"targets": [{"type": "schedule", "id": schedule.id}], "delay_minutes": 5},
                    {"targets": [{"type": "schedule", "id": schedule.id}], "delay_minutes": 5},
                ]
            }
        ),
        now=clock.now(),
    )
    session.commit()
    trigger(client, paging.key)  # 09:00: Alice is on call
    worker.run_cycle()
    clock.advance(minutes=5)  # 09:05: Bob took over at 09:03
    worker.run_cycle()
    assert recorder.addresses() == ["alice@example.com", "bob@example.com"]


def test_ack_timeout_triggers_the_incident_again(
    client: TestClient,
    auth: dict[str, str],
    paging: Paging,
    worker: Engine,
    recorder: Recorder,
    clock: FakeClock,
    session: Session,
) -> None:
    services.update_service(
        session,
        service_id=paging.service.id,
        data=ServiceUpdate(ack_timeout_minutes=30),
        now=clock.now(),
    )
    session.commit()
    number = trigger(client, paging.key)
    worker.run_cycle()
    client.post(f"/api/v1/incidents/{number}/acknowledge", headers=auth)
    clock.advance(minutes=29)
    worker.run_cycle()
    assert recorder.addresses() == ["alice@example.com"]
    clock.advance(minutes=1)
    worker.run_cycle()
    worker.run_cycle()
    assert client.get(f"/api/v1/incidents/{number}", headers=auth).json()["status"] == "triggered"
    assert recorder.addresses() == ["alice@example.com", "alice@example.com"]


def test_provider_failures_retry_then_fail_onto_the_timeline(
    client: TestClient,
    auth: dict[str, str],
    paging: Paging,
    worker: Engine,
    recorder: Recorder,
    clock: FakeClock,
) -> None:
    recorder.failures = [SendResult.transient("503 from provider")]
    number = trigger(client, paging.key)
    worker.run_cycle()
    assert recorder.sent == []
    clock.advance(seconds=10)
    worker.run_cycle()
    assert recorder.addresses() == ["alice@example.com"]
    recorder.failures = [SendResult.failed("400 invalid address")]
    clock.advance(minutes=5)
    worker.run_cycle()
    timeline = client.get(f"/api/v1/incidents/{number}", headers=auth).json()["timeline"]
    failures = [e["message"] for e in timeline if e["kind"] == "notify_failed"]
    assert failures == ["Could not reach Bob by email: 400 invalid address"]
    messages = client.get(f"/api/v1/incidents/{number}/notifications", headers=auth).json()
    assert [(m["status"], m["attempts"]) for m in messages] == [("sent", 2), ("failed", 1)]


def test_manual_escalation_and_reassignment_are_on_the_timeline(
    client: TestClient, auth: dict[str, str], paging: Paging, worker: Engine, recorder: Recorder
) -> None:
    number = trigger(client, paging.key)
    worker.run_cycle()
    response = client.post(f"/api/v1/incidents/{number}/escalate", headers=auth, json={"level": 2})
    assert response.status_code == 200, response.text
    worker.run_cycle()
    assert recorder.addresses() == ["alice@example.com", "bob@example.com"]
    response = client.post(
        f"/api/v1/incidents/{number}/reassign", headers=auth, json={"user_id": paging.carol.id}
    )
    assert response.status_code == 200, response.text
    worker.run_cycle()
    assert recorder.addresses()[-1] == "carol@example.com"
    kinds = [
        e["kind"]
        for e in client.get(f"/api/v1/incidents/{number}", headers=auth).json()["timeline"]
    ]
    assert "reassigned" in kinds


def test_the_incident_shows_its_escalation_plan(
    client: TestClient, auth: dict[str, str], paging: Paging, worker: Engine
) -> None:
    number = trigger(client, paging.key)
    worker.run_cycle()
    plan = client.get(f"/api/v1/incidents/{number}/escalation", headers=auth).json()
    assert plan["state"] == "exhausted" or plan["plan"][0]["targets"] == ["Bob"]


def test_unverified_contact_methods_are_not_paged(
    client: TestClient,
    paging: Paging,
    worker: Engine,
    recorder: Recorder,
    session: Session,
    make_user: Any,
    clock: FakeClock,
) -> None:
    from tests.engine.conftest import add_email

    dave = make_user(name="Dave", email="dave@example.com")
    add_email(session, dave, clock, verified=False)
    escalation.update_policy(
        session,
        policy_id=paging.policy_id,
        data=PolicyUpdate.model_validate(
            {"levels": [{"targets": [{"type": "user", "id": dave.id}]}]}
        ),
        now=clock.now(),
    )
    session.commit()
    trigger(client, paging.key)
    worker.run_cycle()
    assert recorder.sent == []
