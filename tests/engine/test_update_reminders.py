"""Overdue stakeholder updates, driven by the FakeClock: the worker reminds the communications
manager (or the commander) once per cadence period, and a stakeholder update resets the clock."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.engine.conftest import Paging, Recorder
from vigil.accounts.models import User
from vigil.clock import FakeClock
from vigil.engine.runner import Engine


def declare(client: TestClient, auth: dict[str, str], *, severity: str, commander: User) -> int:
    response = client.post(
        "/api/v1/incidents",
        headers=auth,
        json={"title": "Payments failing", "severity": severity, "commander_id": commander.id},
    )
    assert response.status_code == 201, response.text
    number: int = response.json()["number"]
    return number


def assign(client: TestClient, auth: dict[str, str], number: int, role: str, user: User) -> None:
    response = client.post(
        f"/api/v1/incidents/{number}/roles", headers=auth, json={"role": role, "user_id": user.id}
    )
    assert response.status_code == 200, response.text


def update(client: TestClient, auth: dict[str, str], number: int, audience: str) -> None:
    response = client.post(
        f"/api/v1/incidents/{number}/updates",
        headers=auth,
        json={"message": "Card payments fail for some customers", "audience": audience},
    )
    assert response.status_code == 201, response.text


def overdue(client: TestClient, auth: dict[str, str], number: int) -> list[dict[str, Any]]:
    timeline = client.get(f"/api/v1/incidents/{number}", headers=auth).json()["timeline"]
    return [e for e in timeline if e["kind"] == "update_overdue"]


def step(worker: Engine, clock: FakeClock, minutes: int) -> None:
    """Advance the clock and let the worker run: a cycle, then the next one at the same instant.

    The reminder module runs after the cycle's sending step, so what it plans goes out on the
    following cycle (about a second later in production); see the xfail test at the end.
    """
    clock.advance(minutes=minutes)
    for _ in range(2):
        result = worker.run_cycle()
        assert not result.failed, result.failed


def test_sev1_without_a_stakeholder_update_for_30_minutes_reminds_the_communications_manager(
    client: TestClient,
    auth: dict[str, str],
    paging: Paging,
    worker: Engine,
    recorder: Recorder,
    clock: FakeClock,
) -> None:
    number = declare(client, auth, severity="SEV1", commander=paging.carol)
    assign(client, auth, number, "communications_manager", paging.alice)
    step(worker, clock, 0)
    step(worker, clock, 29)
    assert recorder.sent == []
    step(worker, clock, 1)
    assert recorder.addresses() == ["alice@example.com"]
    [(_destination, message)] = recorder.sent
    assert message.incident_number == number
    assert "stakeholder update is due" in message.body
    [event] = overdue(client, auth, number)
    assert "reminded the communications manager" in event["message"]
    assert event["data"]["user_id"] == paging.alice.id


def test_the_reminder_is_not_repeated_until_another_cadence_period_passes(
    client: TestClient,
    auth: dict[str, str],
    paging: Paging,
    worker: Engine,
    recorder: Recorder,
    clock: FakeClock,
) -> None:
    number = declare(client, auth, severity="SEV1", commander=paging.carol)
    assign(client, auth, number, "communications_manager", paging.alice)
    step(worker, clock, 30)
    assert len(recorder.sent) == 1
    for minutes in (10, 10, 9):
        step(worker, clock, minutes)
    assert len(recorder.sent) == 1
    step(worker, clock, 1)
    assert recorder.addresses() == ["alice@example.com", "alice@example.com"]
    assert len(overdue(client, auth, number)) == 2


def test_a_stakeholder_update_resets_the_clock_and_an_internal_one_does_not(
    client: TestClient,
    auth: dict[str, str],
    paging: Paging,
    worker: Engine,
    recorder: Recorder,
    clock: FakeClock,
) -> None:
    number = declare(client, auth, severity="SEV1", commander=paging.carol)
    assign(client, auth, number, "communications_manager", paging.alice)
    clock.advance(minutes=20)
    update(client, auth, number, "stakeholders")
    step(worker, clock, 25)  # T+45: 25 minutes since the stakeholder update
    update(client, auth, number, "internal")
    step(worker, clock, 4)  # T+49
    assert recorder.sent == []
    assert overdue(client, auth, number) == []
    step(worker, clock, 1)  # T+50: 30 minutes since the stakeholder update
    assert recorder.addresses() == ["alice@example.com"]


def test_an_update_after_a_reminder_starts_a_fresh_period(
    client: TestClient,
    auth: dict[str, str],
    paging: Paging,
    worker: Engine,
    recorder: Recorder,
    clock: FakeClock,
) -> None:
    number = declare(client, auth, severity="SEV1", commander=paging.carol)
    assign(client, auth, number, "communications_manager", paging.alice)
    step(worker, clock, 30)
    clock.advance(minutes=5)
    update(client, auth, number, "stakeholders")  # T+35
    step(worker, clock, 29)  # T+64
    assert len(recorder.sent) == 1
    step(worker, clock, 1)  # T+65
    assert len(recorder.sent) == 2


def test_without_a_communications_manager_the_commander_is_reminded(
    client: TestClient,
    auth: dict[str, str],
    paging: Paging,
    worker: Engine,
    recorder: Recorder,
    clock: FakeClock,
) -> None:
    number = declare(client, auth, severity="SEV1", commander=paging.carol)
    step(worker, clock, 30)
    assert recorder.addresses() == ["carol@example.com"]
    [event] = overdue(client, auth, number)
    assert "reminded the commander" in event["message"]


def test_sev2_is_reminded_after_60_minutes(
    client: TestClient,
    auth: dict[str, str],
    paging: Paging,
    worker: Engine,
    recorder: Recorder,
    clock: FakeClock,
) -> None:
    number = declare(client, auth, severity="SEV2", commander=paging.bob)
    step(worker, clock, 30)
    step(worker, clock, 29)
    assert recorder.sent == []
    step(worker, clock, 1)
    assert recorder.addresses() == ["bob@example.com"]
    [event] = overdue(client, auth, number)
    assert "every 60 min" in event["message"]


def test_sev3_and_resolved_incidents_are_never_reminded(
    client: TestClient,
    auth: dict[str, str],
    paging: Paging,
    worker: Engine,
    recorder: Recorder,
    clock: FakeClock,
) -> None:
    minor = declare(client, auth, severity="SEV3", commander=paging.bob)
    done = declare(client, auth, severity="SEV1", commander=paging.alice)
    response = client.post(
        f"/api/v1/incidents/{done}/status", headers=auth, json={"status": "resolved"}
    )
    assert response.status_code == 200, response.text
    for _ in range(8):
        step(worker, clock, 30)
    assert recorder.sent == []
    assert overdue(client, auth, minor) == []
    assert overdue(client, auth, done) == []


def test_a_reminder_goes_out_in_the_cycle_that_finds_the_update_overdue(
    client: TestClient,
    auth: dict[str, str],
    paging: Paging,
    worker: Engine,
    recorder: Recorder,
    clock: FakeClock,
) -> None:
    declare(client, auth, severity="SEV1", commander=paging.carol)
    clock.advance(minutes=30)
    worker.run_cycle()
    assert recorder.addresses() == ["carol@example.com"]
