"""A hypothesis state machine over the real engine and database: whatever order incidents are
triggered, acknowledged and resolved in while the clock moves and the worker cycles, nobody is
paged after an acknowledgement or resolve, and no escalation leaves the bounds of its policy."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy.orm import Session

from tests.engine.conftest import Paging, Recorder, trigger
from vigil.clock import FakeClock
from vigil.engine.runner import Engine
from vigil.escalation import service as escalation
from vigil.escalation.models import EscalationState, IncidentEscalation
from vigil.escalation.schemas import PolicyUpdate
from vigil.incidents.models import Incident
from vigil.notify.models import Notification
from vigil.storage.db import Database
from vigil.timeline.models import EventKind, IncidentEvent

MACHINE_SETTINGS = settings(
    max_examples=15,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
OPEN_STATES = (EscalationState.ACTIVE, EscalationState.WAITING)


@dataclass
class World:
    """The fixtures every example shares; examples only judge the incidents they opened."""

    client: TestClient
    auth: dict[str, str]
    paging: Paging
    worker: Engine
    recorder: Recorder
    clock: FakeClock
    db: Database
    session: Session
    dedup: itertools.count[int] = field(default_factory=itertools.count)


@dataclass
class Opened:
    """What the model knows about one incident this example opened."""

    policy_version: int
    levels: list[dict[str, Any]]
    repeat: int
    status: str = "triggered"
    # Messages that existed when it was acknowledged or resolved; anything later is a page too many.
    planned_at_ack: set[int] | None = None
    planned_at_resolve: set[int] | None = None
    sent_keys_at_resolve: set[str] | None = None


def levels_strategy(paging: Paging) -> st.SearchStrategy[list[dict[str, Any]]]:
    people = [paging.alice.id, paging.bob.id, paging.carol.id]
    target_lists = st.lists(st.sampled_from(people), min_size=1, max_size=3, unique=True).map(
        lambda ids: [{"type": "user", "id": i} for i in ids]
    )
    return st.lists(
        st.fixed_dictionaries(
            {
                "targets": target_lists,
                "delay_minutes": st.integers(0, 10),
                "mode": st.sampled_from(["all", "round_robin"]),
            }
        ),
        min_size=1,
        max_size=4,
    )


class PagingMachine(RuleBasedStateMachine):
    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world
        self.opened: dict[int, Opened] = {}

    # --- helpers ---------------------------------------------------------------------------

    def not_resolved(self) -> list[int]:
        return sorted(n for n, o in self.opened.items() if o.status != "resolved")

    def planned_ids(self, number: int) -> set[int]:
        with self.world.db.read_session() as session:
            return set(
                session.scalars(
                    sa.select(Notification.id).where(Notification.incident_id == number)
                )
            )

    def sent_keys(self, number: int) -> set[str]:
        with self.world.db.read_session() as session:
            keys = set(
                session.scalars(
                    sa.select(Notification.idempotency_key).where(
                        Notification.incident_id == number
                    )
                )
            )
        return {m.idempotency_key for _d, m in self.world.recorder.sent} & keys

    # --- rules -----------------------------------------------------------------------------

    @initialize(severity=st.sampled_from(["critical", "error", "warning"]))
    def first_incident(self, severity: str) -> None:
        self.trigger_an_incident(severity)

    @rule(severity=st.sampled_from(["critical", "error", "warning"]))
    def trigger_an_incident(self, severity: str) -> None:
        world = self.world
        with world.db.read_session() as session:
            policy = escalation.get_policy(session, policy_id=world.paging.policy_id)
            current = Opened(policy.version, list(policy.levels), policy.repeat)
        number = trigger(
            world.client, world.paging.key, severity=severity, dedup=f"sm-{next(world.dedup)}"
        )
        assert number, "a new dedup key on a service without grouping opens a new incident"
        self.opened[number] = current

    @rule(data=st.data(), repeat=st.integers(0, 2))
    def edit_the_policy(self, data: st.DataObject, repeat: int) -> None:
        world = self.world
        levels = data.draw(levels_strategy(world.paging), label="levels")
        with world.db.unit_of_work() as session:
            escalation.update_policy(
                session,
                policy_id=world.paging.policy_id,
                data=PolicyUpdate.model_validate({"levels": levels, "repeat": repeat}),
                now=world.clock.now(),
            )

    @rule(minutes=st.integers(0, 12), then_cycle=st.booleans())
    def advance_the_clock(self, minutes: int, then_cycle: bool) -> None:
        """Time passes; usually the worker runs meanwhile, sometimes it has fallen behind."""
        self.world.clock.advance(minutes=minutes)
        if then_cycle:
            self.run_a_cycle()

    @rule()
    def run_a_cycle(self) -> None:
        result = self.world.worker.run_cycle()
        assert not result.failed, result.failed

    @precondition(lambda self: self.not_resolved())
    @rule(data=st.data())
    def acknowledge(self, data: st.DataObject) -> None:
        number = data.draw(st.sampled_from(self.not_resolved()), label="acknowledge")
        response = self.world.client.post(
            f"/api/v1/incidents/{number}/acknowledge", headers=self.world.auth
        )
        assert response.status_code == 200, response.text
        opened = self.opened[number]
        if opened.status == "triggered":
            opened.status = "acknowledged"
            opened.planned_at_ack = self.planned_ids(number)

    @precondition(lambda self: self.not_resolved())
    @rule(data=st.data())
    def resolve(self, data: st.DataObject) -> None:
        number = data.draw(st.sampled_from(self.not_resolved()), label="resolve")
        response = self.world.client.post(
            f"/api/v1/incidents/{number}/resolve", headers=self.world.auth
        )
        assert response.status_code == 200, response.text
        opened = self.opened[number]
        opened.status = "resolved"
        opened.planned_at_resolve = self.planned_ids(number)
        opened.sent_keys_at_resolve = self.sent_keys(number)

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def nothing_is_planned_after_an_acknowledgement_or_resolve(self) -> None:
        if not self.opened:
            return
        with self.world.db.read_session() as session:
            incidents = session.execute(
                sa.select(Incident.id, Incident.acknowledged_at, Incident.resolved_at).where(
                    Incident.id.in_(self.opened)
                )
            ).all()
            for number, acknowledged_at, resolved_at in incidents:
                stopped = acknowledged_at or resolved_at  # an acknowledgement comes first
                if stopped is None:
                    continue
                late = session.execute(
                    sa.select(Notification.id, Notification.kind, Notification.created_at).where(
                        Notification.incident_id == number,
                        Notification.kind != "management",
                        Notification.created_at > stopped,
                    )
                ).all()
                assert late == [], f"#{number} stopped at {stopped} but planned {late}"
        for number, opened in self.opened.items():
            earliest = opened.planned_at_ack
            if earliest is None:
                earliest = opened.planned_at_resolve
            if earliest is None:
                continue
            with self.world.db.read_session() as session:
                after = session.execute(
                    sa.select(Notification.id, Notification.kind).where(
                        Notification.incident_id == number,
                        Notification.kind != "management",
                        Notification.id.not_in(earliest),
                    )
                ).all()
            assert after == [], f"#{number} was planned {after} after it was stopped"

    @invariant()
    def nothing_is_sent_for_a_resolved_incident(self) -> None:
        with self.world.db.read_session() as session:
            for number, opened in self.opened.items():
                if opened.status != "resolved":
                    continue
                resolved_at = session.scalar(
                    sa.select(Incident.resolved_at).where(Incident.id == number)
                )
                late = session.execute(
                    sa.select(Notification.id, Notification.sent_at).where(
                        Notification.incident_id == number, Notification.sent_at > resolved_at
                    )
                ).all()
                assert late == [], f"#{number} resolved at {resolved_at}, then sent {late}"
        for number, opened in self.opened.items():
            if opened.sent_keys_at_resolve is not None:
                assert self.sent_keys(number) == opened.sent_keys_at_resolve, (
                    f"#{number} got messages after it was resolved"
                )

    @invariant()
    def every_escalation_stays_within_its_pinned_policy(self) -> None:
        if not self.opened:
            return
        with self.world.db.read_session() as session:
            rows = session.execute(
                sa.select(IncidentEscalation, Incident.urgency)
                .join(Incident, Incident.id == IncidentEscalation.incident_id)
                .where(IncidentEscalation.incident_id.in_(self.opened))
            ).all()
            assert len(rows) == len(self.opened), "every incident of the service escalates"
            for pinned, urgency in rows:
                opened = self.opened[pinned.incident_id]
                levels, repeat = pinned.snapshot["levels"], pinned.snapshot["repeat"]
                # Pinned to the version in force when the incident opened, whatever came later.
                assert pinned.policy_version == opened.policy_version
                assert (levels, repeat) == (opened.levels, opened.repeat)
                # Low urgency notifies the first level once and never escalates or repeats.
                bound_levels, bound_repeat = (len(levels), repeat) if urgency == "high" else (1, 0)
                assert 0 <= pinned.next_level < len(levels)
                assert 0 <= pinned.cycle <= bound_repeat + 1
                if pinned.state in OPEN_STATES:
                    assert pinned.next_level < bound_levels
                    assert pinned.cycle <= bound_repeat
                    assert pinned.next_at is not None
                else:
                    assert pinned.next_at is None
                fired = [
                    (data["level"], data["cycle"])
                    for data in session.scalars(
                        sa.select(IncidentEvent.data)
                        .where(
                            IncidentEvent.incident_id == pinned.incident_id,
                            IncidentEvent.kind == EventKind.ESCALATED,
                        )
                        .order_by(IncidentEvent.at, IncidentEvent.id)
                    )
                ]
                # Each level once per run of the policy, in order, and never beyond the last run.
                whole = [(lv, c) for c in range(bound_repeat + 1) for lv in range(bound_levels)]
                assert fired == whole[: len(fired)], f"#{pinned.incident_id} fired {fired}"
                if pinned.state == EscalationState.EXHAUSTED:
                    assert fired == whole

    @invariant()
    def no_message_is_sent_twice(self) -> None:
        sent = Counter(m.idempotency_key for _d, m in self.world.recorder.sent)
        twice = {key: count for key, count in sent.items() if count > 1}
        assert twice == {}, f"sent more than once: {twice}"


def test_escalations_never_page_after_ack_or_resolve_and_stay_within_their_policy(
    client: TestClient,
    auth: dict[str, str],
    paging: Paging,
    worker: Engine,
    recorder: Recorder,
    clock: FakeClock,
    db: Database,
    session: Session,
) -> None:
    escalation.update_policy(
        session,
        policy_id=paging.policy_id,
        data=PolicyUpdate.model_validate(
            {
                "levels": [
                    {"targets": [{"type": "user", "id": paging.alice.id}], "delay_minutes": 5},
                    {
                        "targets": [
                            {"type": "user", "id": paging.bob.id},
                            {"type": "user", "id": paging.carol.id},
                        ],
                        "delay_minutes": 3,
                        "mode": "round_robin",
                    },
                    {"targets": [{"type": "user", "id": paging.carol.id}], "delay_minutes": 0},
                ],
                "repeat": 1,
                "management_targets": [{"type": "user", "id": paging.carol.id}],
            }
        ),
        now=clock.now(),
    )
    session.commit()
    world = World(client, auth, paging, worker, recorder, clock, db, session)
    run_state_machine_as_test(lambda: PagingMachine(world), settings=MACHINE_SETTINGS)
