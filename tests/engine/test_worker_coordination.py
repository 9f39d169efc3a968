"""How workers share the engine's steps through leases. (`run_forever`'s streamed sending runs
in real processes in tests/live_paging: every page exactly once, recorded as sent.)"""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.engine.conftest import Paging, Recorder, trigger
from vigil.clock import FakeClock, ensure_utc
from vigil.engine.runner import LOST_LEASE_RETRY, Engine
from vigil.storage.db import Database
from vigil.storage.leases import Lease


def _second_worker(worker: Engine, holder: str) -> Engine:
    return Engine(worker.db, worker.clock, worker.config, holder=holder)


def _lease_expiry(db: Database, name: str) -> tuple[str, object]:
    with db.read_session() as session:
        lease = session.execute(sa.select(Lease.holder, Lease.expires_at).where(Lease.name == name))
        holder, expires_at = lease.one()
    return holder, ensure_utc(expires_at)


def test_a_second_worker_leaves_a_held_step_alone_and_takes_over_once_it_is_handed_back(
    client: TestClient,
    paging: Paging,
    worker: Engine,
    recorder: Recorder,
    clock: FakeClock,
) -> None:
    other = _second_worker(worker, "other-worker")
    trigger(client, paging.key, dedup="first")
    assert worker.run_cycle().ran["escalation"] == 1  # the first worker takes the lease
    trigger(client, paging.key, dedup="second")
    assert "escalation" in other.run_cycle().skipped
    assert "escalation" in other.run_cycle().skipped  # within the retry pause: not even asked
    assert recorder.addresses() == ["alice@example.com"]
    worker.release_leases()  # a worker stopping hands its leases back
    clock.advance(seconds=LOST_LEASE_RETRY.total_seconds())
    result = other.run_cycle()
    assert result.ran["escalation"] == 1
    assert recorder.addresses() == ["alice@example.com", "alice@example.com"]


def test_a_held_lease_is_renewed_once_half_its_term_has_passed(
    client: TestClient, paging: Paging, worker: Engine, clock: FakeClock
) -> None:
    trigger(client, paging.key, dedup="first")
    worker.run_cycle()
    term = next(m.timeout for m in worker.modules if m.name == "escalation")
    taken_at = clock.now()
    assert _lease_expiry(worker.db, "escalation") == ("test-worker", taken_at + term)

    clock.advance(seconds=term.total_seconds() / 2 - 1)
    trigger(client, paging.key, dedup="second")
    assert worker.run_cycle().ran["escalation"] == 1
    assert _lease_expiry(worker.db, "escalation") == ("test-worker", taken_at + term)

    clock.advance(seconds=2)
    trigger(client, paging.key, dedup="third")
    assert worker.run_cycle().ran["escalation"] == 1
    assert _lease_expiry(worker.db, "escalation") == ("test-worker", clock.now() + term)
