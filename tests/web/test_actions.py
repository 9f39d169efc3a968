"""Every incident action is a plain form post that changes the incident and returns to it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from vigil.accounts.models import Role, User
from vigil.clock import FakeClock
from vigil.incidents import command, comms
from vigil.incidents import service as incidents
from vigil.schedules import service as schedules
from vigil.schedules.schemas import LayerCreate, ScheduleCreate


@pytest.fixture
def number(signed_in: tuple[TestClient, str], key: str, send_alert: Any) -> int:
    number: int = send_alert(key)
    return number


def _post(web: TestClient, token: str, url: str, **data: str) -> Any:
    response = web.post(url, data={"csrf": token, **data})
    assert response.status_code == 303, response.text
    return web.get(response.headers["location"])


def test_acknowledge_from_the_page(
    signed_in: tuple[TestClient, str], number: int, session: Session
) -> None:
    web, token = signed_in
    page = _post(web, token, f"/incidents/{number}/acknowledge")
    assert f"#{number} acknowledged." in page.text
    assert incidents.get_incident(session, incident_id=number).status == "acknowledged"


def test_resolve_with_a_note(
    signed_in: tuple[TestClient, str], number: int, session: Session
) -> None:
    web, token = signed_in
    page = _post(web, token, f"/incidents/{number}/resolve", note="disk cleaned")
    assert "Resolved: disk cleaned" in page.text
    assert incidents.get_incident(session, incident_id=number).status == "resolved"
    assert "Post update" not in page.text


def test_post_a_status_update(
    signed_in: tuple[TestClient, str], number: int, session: Session
) -> None:
    web, token = signed_in
    page = _post(
        web, token, f"/incidents/{number}/update", message="Rolling back", audience="stakeholders"
    )
    assert "Rolling back" in page.text
    [update] = comms.list_updates(session, incident_id=number)
    assert (update.message, update.audience) == ("Rolling back", "stakeholders")


def test_an_empty_status_update_is_refused_next_to_the_field(
    signed_in: tuple[TestClient, str], number: int, session: Session
) -> None:
    web, token = signed_in
    response = web.post(f"/incidents/{number}/update", data={"csrf": token, "message": "  "})
    assert response.status_code == 422
    assert 'id="update-err"' in response.text
    assert comms.list_updates(session, incident_id=number) == []


def test_assign_a_commander(
    signed_in: tuple[TestClient, str], number: int, make_user: Any, session: Session
) -> None:
    web, token = signed_in
    bob: User = make_user(Role.RESPONDER, name="Bob Builder")
    page = _post(web, token, f"/incidents/{number}/role", role="commander", user_id=str(bob.id))
    assert "Bob Builder is incident commander" in page.text
    [role] = command.current_roles(session, incident_id=number)
    assert (role.role, role.user_id) == ("commander", bob.id)


def test_add_and_complete_a_task(
    signed_in: tuple[TestClient, str], number: int, session: Session
) -> None:
    web, token = signed_in
    _post(web, token, f"/incidents/{number}/task", title="Page the DBA")
    [task] = comms.list_tasks(session, incident_id=number)
    page = _post(web, token, f"/incidents/{number}/task-done", task_id=str(task.id))
    assert "Task done." in page.text
    session.expire_all()
    assert comms.list_tasks(session, incident_id=number)[0].status == "done"


def test_change_phase_and_severity_with_a_reason(
    signed_in: tuple[TestClient, str], number: int, session: Session
) -> None:
    web, token = signed_in
    _post(web, token, f"/incidents/{number}/phase", status="investigating", message="on it")
    page = _post(
        web, token, f"/incidents/{number}/severity", severity="SEV3", reason="only one region"
    )
    assert "because only one region" in page.text
    incident = incidents.get_incident(session, incident_id=number)
    assert (incident.status, incident.severity) == ("investigating", "SEV3")


def test_severity_change_without_a_reason_is_refused(
    signed_in: tuple[TestClient, str], number: int, session: Session
) -> None:
    web, token = signed_in
    response = web.post(
        f"/incidents/{number}/severity", data={"csrf": token, "severity": "SEV4", "reason": ""}
    )
    assert response.status_code == 422
    assert incidents.get_incident(session, incident_id=number).severity == "SEV1"


def test_a_move_the_lifecycle_refuses_shows_the_allowed_ones(
    signed_in: tuple[TestClient, str], number: int
) -> None:
    web, token = signed_in
    _post(web, token, f"/incidents/{number}/phase", status="monitoring")
    response = web.post(f"/incidents/{number}/phase", data={"csrf": token, "status": "identified"})
    assert response.status_code == 409
    assert "allowed: investigating, resolved" in response.text


def test_add_a_pinned_note_and_merge(
    signed_in: tuple[TestClient, str], number: int, key: str, send_alert: Any, session: Session
) -> None:
    web, token = signed_in
    page = _post(web, token, f"/incidents/{number}/note", text="DBA paged by phone", pinned="on")
    assert "DBA paged by phone" in page.text and "key event" in page.text
    other = send_alert(key, summary="Disk full on db-2", labels={"alertname": "other"})
    _post(web, token, f"/incidents/{other}/merge", into=f"#{number}")
    assert incidents.get_incident(session, incident_id=other).merged_into_id == number


def test_an_action_without_the_csrf_token_changes_nothing(
    signed_in: tuple[TestClient, str], number: int, session: Session
) -> None:
    web, _token = signed_in
    for data in ({}, {"csrf": "forged"}):
        response = web.post(f"/incidents/{number}/acknowledge", data=data)
        assert response.status_code == 403
    session.expire_all()
    assert incidents.get_incident(session, incident_id=number).status == "triggered"


def test_add_an_override_and_see_who_is_on_call(
    signed_in: tuple[TestClient, str],
    responder: User,
    make_user: Any,
    session: Session,
    clock: FakeClock,
) -> None:
    web, token = signed_in
    bob: User = make_user(Role.RESPONDER, name="Bob Builder")
    start = clock.now().replace(tzinfo=None) - timedelta(days=1)
    schedule = schedules.create_schedule(
        session,
        data=ScheduleCreate(
            name="Primary",
            time_zone="UTC",
            layers=[LayerCreate(name="Weekly", start=start, participants=[bob.id])],
        ),
        actor_id=None,
        now=clock.now(),
    )
    session.commit()
    assert "Bob Builder" in web.get("/oncall").text
    begin = clock.now().replace(tzinfo=None)
    page = _post(
        web,
        token,
        "/oncall/overrides",
        schedule_id=str(schedule.id),
        user_id=str(responder.id),
        start=begin.strftime("%Y-%m-%dT%H:%M"),
        end=(begin + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M"),
        replaces_user_id=str(bob.id),
        consent="on",
    )
    assert "Override added." in page.text
    now_section = page.text.split('id="now-h"')[1].split("</section>")[0]
    assert "Rita Responder" in now_section


def test_an_override_ending_before_it_starts_is_refused_next_to_the_field(
    signed_in: tuple[TestClient, str], responder: User, session: Session, clock: FakeClock
) -> None:
    web, token = signed_in
    schedule = schedules.create_schedule(
        session,
        data=ScheduleCreate(name="Secondary", time_zone="UTC"),
        actor_id=None,
        now=clock.now(),
    )
    session.commit()
    response = web.post(
        "/oncall/overrides",
        data={
            "csrf": token,
            "schedule_id": str(schedule.id),
            "user_id": str(responder.id),
            "start": "2026-03-05T10:00",
            "end": "2026-03-05T09:00",
            "note": "keep me",
        },
    )
    assert response.status_code == 422
    assert 'id="ov-end-err"' in response.text
    assert 'value="keep me"' in response.text
    assert schedules.list_overrides(session, schedule_id=schedule.id) == []
