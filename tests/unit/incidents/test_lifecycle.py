"""The lifecycle as data: which phase moves are allowed, which phase time each move sets, and the
duties and guidance shown to people."""

from __future__ import annotations

from datetime import timedelta

import pytest

from vigil.incidents import lifecycle
from vigil.incidents.models import Incident, IncidentStatus, Role, Severity

S = IncidentStatus
ORDER = list(S)


def test_every_phase_has_its_allowed_moves() -> None:
    assert set(lifecycle.ALLOWED) == set(S)


@pytest.mark.parametrize("status", list(S))
def test_no_phase_moves_to_itself_or_back_to_triggered(status: S) -> None:
    assert status not in lifecycle.ALLOWED[status]
    assert S.TRIGGERED not in lifecycle.ALLOWED[status]


def test_open_phases_move_forward_or_straight_to_resolved() -> None:
    for status in (S.TRIGGERED, S.ACKNOWLEDGED, S.INVESTIGATING, S.IDENTIFIED):
        assert S.RESOLVED in lifecycle.ALLOWED[status]
        assert all(ORDER.index(t) > ORDER.index(status) for t in lifecycle.ALLOWED[status])


def test_only_monitoring_goes_back_to_investigating_while_open() -> None:
    backwards = {
        (source, target)
        for source, targets in lifecycle.ALLOWED.items()
        for target in targets
        if ORDER.index(target) < ORDER.index(source)
    }
    assert backwards == {(S.MONITORING, S.INVESTIGATING), (S.RESOLVED, S.INVESTIGATING)}


def test_a_resolved_incident_can_only_be_reopened_into_investigating_within_seven_days() -> None:
    assert lifecycle.ALLOWED[S.RESOLVED] == (S.INVESTIGATING,)
    assert lifecycle.REOPEN_WINDOW.total_seconds() == timedelta(days=7).total_seconds()


@pytest.mark.parametrize("source", list(S))
@pytest.mark.parametrize("target", list(S))
def test_is_allowed_agrees_with_allowed_moves(source: S, target: S) -> None:
    assert lifecycle.is_allowed(source.value, target.value) == (
        target in lifecycle.allowed_moves(source.value)
    )


def test_every_reachable_phase_keeps_the_time_it_began_on_the_incident() -> None:
    reachable = {t for targets in lifecycle.ALLOWED.values() for t in targets}
    assert reachable == set(lifecycle.PHASE_FIELD)
    columns = set(Incident.__table__.columns.keys())
    assert set(lifecycle.PHASE_FIELD.values()) <= columns


def test_every_role_has_a_short_list_of_duties() -> None:
    assert set(lifecycle.ROLE_DUTIES) == {r.value for r in Role}
    for duties in lifecycle.ROLE_DUTIES.values():
        assert 1 <= len(duties) <= 5
        assert all(duty.strip() for duty in duties)


def test_every_severity_has_guidance() -> None:
    assert set(lifecycle.SEVERITY_GUIDANCE) == {s.value for s in Severity}
    assert "outage" in lifecycle.SEVERITY_GUIDANCE["SEV1"]
    assert "workaround" in lifecycle.SEVERITY_GUIDANCE["SEV3"]
