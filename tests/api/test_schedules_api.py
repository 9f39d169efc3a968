"""Schedules through the REST API: layers, overrides, shifts, on-call, reports and ICS feeds."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar
import pytest
from fastapi.testclient import TestClient

from vigil.accounts.models import Role
from vigil.clock import FakeClock

MONDAY = "2026-03-02T09:00:00"  # the FakeClock starts here (09:00 UTC, 10:00 in Berlin)


@pytest.fixture
def people(make_user: Any) -> list[Any]:
    return [make_user(Role.RESPONDER, time_zone="Europe/Berlin") for _ in range(3)]


def weekly_schedule(
    client: TestClient, auth: dict[str, str], people: list[Any], **extra: Any
) -> dict[str, Any]:
    body = {
        "name": "Primary",
        "time_zone": "Europe/Berlin",
        "layers": [
            {
                "name": "weekly",
                "start": "2026-03-02T09:00:00",
                "participants": [p.id for p in people],
                "rotation": "weekly",
                "handoff_time": "09:00",
                "handoff_day": "mon",
            }
        ],
        **extra,
    }
    response = client.post("/api/v1/schedules", headers=auth, json=body)
    assert response.status_code == 201, response.text
    schedule: dict[str, Any] = response.json()
    return schedule


def test_weekly_rotation_hands_off_at_local_time_across_dst(
    client: TestClient, auth: dict[str, str], people: list[Any]
) -> None:
    schedule = weekly_schedule(client, auth, people)
    response = client.get(
        f"/api/v1/schedules/{schedule['id']}/shifts",
        headers=auth,
        params={"since": "2026-03-23T09:00:00", "until": "2026-04-06T09:00:00"},
    )
    assert response.status_code == 200, response.text
    final = response.json()["final"]
    starts = [datetime.fromisoformat(s["start"]) for s in final]
    # Monday 09:00 Berlin is 08:00 UTC in winter and 07:00 UTC after the 29 March change.
    assert starts == [
        datetime(2026, 3, 23, 8, tzinfo=UTC),
        datetime(2026, 3, 30, 7, tzinfo=UTC),
    ]
    lengths = [datetime.fromisoformat(s["end"]) - datetime.fromisoformat(s["start"]) for s in final]
    assert lengths[0] == timedelta(hours=167)


def test_a_higher_layer_wins_and_restrictions_leave_the_lower_layer_showing(
    client: TestClient, auth: dict[str, str], people: list[Any]
) -> None:
    schedule = weekly_schedule(client, auth, people[:1])
    layer = {
        "name": "business hours",
        "start": "2026-03-02T09:00:00",
        "participants": [people[1].id],
        "rotation": "daily",
        "handoff_time": "09:00",
        "restrictions": [{"type": "daily", "start_time": "09:00", "end_time": "17:00"}],
    }
    assert (
        client.post(
            f"/api/v1/schedules/{schedule['id']}/layers", headers=auth, json=layer
        ).status_code
        == 201
    )
    response = client.get(
        f"/api/v1/schedules/{schedule['id']}/shifts",
        headers=auth,
        params={"since": "2026-03-03T00:00:00", "until": "2026-03-04T00:00:00", "layers": "true"},
    )
    body = response.json()
    assert [(s["user_id"], s["start"][11:16]) for s in body["final"]] == [
        (people[0].id, "23:00"),
        (people[1].id, "08:00"),
        (people[0].id, "16:00"),
    ]
    assert [layer["name"] for layer in body["layers"]] == ["business hours", "weekly"]


def test_override_wins_and_who_is_on_call_follows_it(
    client: TestClient, auth: dict[str, str], people: list[Any], clock: FakeClock
) -> None:
    schedule = weekly_schedule(client, auth, people)
    oncall = client.get("/api/v1/oncall", headers=auth).json()
    assert [(e["schedule_name"], e["user_id"]) for e in oncall] == [("Primary", people[0].id)]
    override = {
        "user_id": people[2].id,
        "start": "2026-03-02T11:00:00",
        "end": "2026-03-02T13:00:00",
    }
    response = client.post(
        f"/api/v1/schedules/{schedule['id']}/overrides", headers=auth, json=override
    )
    assert response.status_code == 201, response.text
    at = client.get("/api/v1/oncall", headers=auth, params={"at": "2026-03-02T11:30:00Z"}).json()
    assert at[0]["user_id"] == people[2].id


def test_members_override_their_own_shift_only_with_consent(
    client: TestClient, auth: dict[str, str], people: list[Any], make_token: Any
) -> None:
    schedule = weekly_schedule(client, auth, people)
    member = {"Authorization": f"Bearer {make_token(people[0])}"}
    swap = {
        "user_id": people[1].id,
        "replaces_user_id": people[0].id,
        "start": "2026-03-03T09:00:00",
        "end": "2026-03-04T09:00:00",
        "kind": "swap",
    }
    path = f"/api/v1/schedules/{schedule['id']}/overrides"
    refused = client.post(path, headers=member, json=swap)
    assert refused.status_code == 422
    assert refused.json()["field"] == "consent"
    created = client.post(path, headers=member, json={**swap, "consent": True})
    assert created.status_code == 201
    assert created.json()["consent_by_id"] == people[1].id
    someone_else = {
        **swap,
        "user_id": people[2].id,
        "replaces_user_id": people[1].id,
        "consent": True,
    }
    assert client.post(path, headers=member, json=someone_else).status_code == 403


def test_changing_a_layer_keeps_the_past(
    client: TestClient, auth: dict[str, str], people: list[Any], clock: FakeClock
) -> None:
    schedule = weekly_schedule(client, auth, people)
    layer_id = schedule["layers"][0]["id"]
    window = {"since": "2026-03-02T09:00:00", "until": "2026-03-30T09:00:00"}
    before = client.get(
        f"/api/v1/schedules/{schedule['id']}/shifts", headers=auth, params=window
    ).json()
    clock.set(datetime(2026, 3, 12, 12, tzinfo=UTC))
    response = client.patch(
        f"/api/v1/schedules/{schedule['id']}/layers/{layer_id}",
        headers=auth,
        json={"participants": [people[2].id]},
    )
    assert response.status_code == 200, response.text
    after = client.get(
        f"/api/v1/schedules/{schedule['id']}/shifts", headers=auth, params=window
    ).json()
    cut = datetime(2026, 3, 12, 12, tzinfo=UTC)
    assert clipped_before(after["final"], cut) == clipped_before(before["final"], cut)
    assert {s["user_id"] for s in after["final"] if datetime.fromisoformat(s["start"]) >= cut} == {
        people[2].id
    }


def clipped_before(shifts: list[dict[str, Any]], cut: datetime) -> list[tuple[Any, ...]]:
    """Who was on call before `cut`, shift by shift."""
    return [
        (s["user_id"], s["start"], min(datetime.fromisoformat(s["end"]), cut))
        for s in shifts
        if datetime.fromisoformat(s["start"]) < cut
    ]


def test_user_shifts_and_load_report(
    client: TestClient, auth: dict[str, str], people: list[Any]
) -> None:
    weekly_schedule(client, auth, people)
    window = {"since": "2026-03-02T09:00:00Z", "until": "2026-03-23T08:00:00Z"}
    shifts = client.get(f"/api/v1/users/{people[1].id}/shifts", headers=auth, params=window).json()
    assert len(shifts) == 1
    report = client.get("/api/v1/reports/oncall-load", headers=auth, params=window).json()
    assert sorted(row["user_id"] for row in report) == sorted(p.id for p in people)
    assert all(row["shifts"] == 1 for row in report)
    assert sum(row["hours_on_call"] for row in report) == pytest.approx(21 * 24 - 1, abs=1.01)


def test_calendar_feed_is_valid_ics_matching_the_calculator(
    client: TestClient, auth: dict[str, str], people: list[Any]
) -> None:
    schedule = weekly_schedule(client, auth, people)
    feed = client.post(f"/api/v1/schedules/{schedule['id']}/calendar-feeds", headers=auth).json()
    path = feed["url"].split("vigil.test", 1)[1]
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(response.content)
    events = list(calendar.walk("VEVENT"))
    shifts = client.get(
        f"/api/v1/schedules/{schedule['id']}/shifts",
        headers=auth,
        params={"since": "2026-02-01T09:00:00Z", "until": "2026-08-29T09:00:00Z"},
    ).json()["final"]
    expected = [(datetime.fromisoformat(s["start"]), s["user_id"]) for s in shifts if s["user_id"]]
    assert [e.decoded("dtstart") for e in events] == [start for start, _ in expected]
    for event in events:
        assert event.decoded("dtstart").tzinfo is not None
        assert event["uid"] and event.get("dtstamp") is not None
        assert "Primary" in str(event["summary"])
    again = icalendar.Calendar.from_ical(client.get(path).content)
    assert [e["uid"] for e in again.walk("VEVENT")] == [e["uid"] for e in events]
    assert client.delete(f"/api/v1/calendar-feeds/{feed['id']}", headers=auth).status_code == 204
    assert client.get(path).status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        (
            {"layers": [{"name": "x", "start": MONDAY, "participants": [], "rotation": "weekly"}]},
            "layers[0].participants",
        ),
        (
            {
                "layers": [
                    {"name": "x", "start": MONDAY, "participants": [999999], "rotation": "weekly"}
                ]
            },
            "layers[0].participants[0]",
        ),
        (
            {
                "layers": [
                    {
                        "name": "x",
                        "start": MONDAY,
                        "participants": ["ME"],
                        "rotation": {"unit": "days", "length": 0},
                    }
                ]
            },
            "layers[0].rotation.length",
        ),
        (
            {"layers": [{"name": "x", "start": "not-a-time", "participants": ["ME"]}]},
            "layers[0].start",
        ),
        (
            {
                "layers": [
                    {
                        "name": "x",
                        "start": MONDAY,
                        "participants": ["ME"],
                        "restrictions": [
                            {"type": "daily", "start_time": "09:00", "end_time": "09:00"}
                        ],
                    }
                ]
            },
            "layers[0].restrictions[0]",
        ),
        (
            {
                "layers": [
                    {
                        "name": "x",
                        "start": MONDAY,
                        "participants": ["ME"],
                        "restrictions": [
                            {"type": "daily", "start_time": "09:00", "duration_minutes": 1500}
                        ],
                    }
                ]
            },
            "layers[0].restrictions[0]",
        ),
    ],
)
def test_invalid_schedules_are_refused_naming_the_field_and_write_nothing(
    client: TestClient, auth: dict[str, str], people: list[Any], change: dict[str, Any], field: str
) -> None:
    body = {"name": "Bad", "time_zone": "Europe/Berlin", **copy.deepcopy(change)}
    for layer in body.get("layers", []):
        layer["participants"] = [people[0].id if p == "ME" else p for p in layer["participants"]]
    response = client.post("/api/v1/schedules", headers=auth, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"].startswith(field)
    assert client.get("/api/v1/schedules", headers=auth).json() == []


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"start": "2026-03-03T09:00:00", "end": "2026-03-03T09:00:00"}, "end"),
        ({"start": "2026-03-03T09:00:00", "end": "2026-06-03T09:00:00"}, "end"),
        (
            {"start": "2026-03-03T09:00:00", "end": "2026-03-04T09:00:00", "user_id": 999999},
            "user_id",
        ),
    ],
)
def test_invalid_overrides_are_refused(
    client: TestClient,
    auth: dict[str, str],
    people: list[Any],
    override: dict[str, Any],
    field: str,
) -> None:
    schedule = weekly_schedule(client, auth, people)
    body = {"user_id": people[0].id, **override}
    response = client.post(f"/api/v1/schedules/{schedule['id']}/overrides", headers=auth, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert client.get(f"/api/v1/schedules/{schedule['id']}/overrides", headers=auth).json() == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2026-03-02T00:00:00", "until": "2026-03-01T00:00:00"}, "until"),
        ({"since": "2026-03-02T00:00:00", "until": "2029-03-02T00:00:00"}, "until"),
        ({"since": "yesterday", "until": "2026-03-01T00:00:00"}, "since"),
    ],
)
def test_bad_query_windows_are_refused(
    client: TestClient, auth: dict[str, str], people: list[Any], params: dict[str, str], field: str
) -> None:
    schedule = weekly_schedule(client, auth, people)
    response = client.get(f"/api/v1/schedules/{schedule['id']}/shifts", headers=auth, params=params)
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_removing_a_user_from_a_team_while_in_a_layer_names_the_schedules(
    client: TestClient, auth: dict[str, str], make_user: Any
) -> None:
    team = client.post("/api/v1/teams", headers=auth, json={"name": "SRE"}).json()
    user = make_user(team_ids=[team["id"]])
    weekly_schedule(client, auth, [user], team_id=team["id"])
    response = client.patch(f"/api/v1/users/{user.id}", headers=auth, json={"team_ids": []})
    assert response.status_code == 409
    assert response.json()["schedules"] == ["Primary"]
    assert client.get(f"/api/v1/users/{user.id}", headers=auth).json()["team_ids"] == [team["id"]]


def test_observers_cannot_change_schedules(
    client: TestClient, auth: dict[str, str], people: list[Any], make_user: Any, make_token: Any
) -> None:
    schedule = weekly_schedule(client, auth, people)
    observer = make_user(Role.OBSERVER)
    headers = {"Authorization": f"Bearer {make_token(observer)}"}
    assert client.get(f"/api/v1/schedules/{schedule['id']}", headers=headers).status_code == 200
    override = {
        "user_id": observer.id,
        "start": "2026-03-03T09:00:00",
        "end": "2026-03-04T09:00:00",
    }
    assert (
        client.post(
            f"/api/v1/schedules/{schedule['id']}/overrides", headers=headers, json=override
        ).status_code
        == 403
    )
    assert client.delete(f"/api/v1/schedules/{schedule['id']}", headers=headers).status_code == 403


def test_gap_report_lists_the_next_two_weeks_without_anyone_on_call(
    client: TestClient, auth: dict[str, str], people: list[Any]
) -> None:
    layer = {
        "name": "office hours",
        "start": "2026-03-02T09:00:00",
        "participants": [people[0].id],
        "rotation": "daily",
        "restrictions": [{"type": "daily", "start_time": "09:00", "end_time": "17:00"}],
    }
    body = {"name": "Office", "time_zone": "Europe/Berlin", "layers": [layer]}
    assert client.post("/api/v1/schedules", headers=auth, json=body).status_code == 201
    [report] = client.get("/api/v1/reports/gaps", headers=auth).json()
    assert report["schedule_name"] == "Office"
    # Every night of the 14 days is a gap: 17:00 to 09:00 Berlin (16:00 to 08:00 UTC in March).
    assert len(report["gaps"]) == 14
    assert report["gaps"][0]["start"].startswith("2026-03-02T16:00:00")
    assert all(gap["user_id"] is None for gap in report["gaps"])
