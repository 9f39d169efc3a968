"""An HTTP process holds a bounded number of inbound bytes at once; the rest wait their turn."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.payloads import prometheus_alert
from vigil.api.app import create_app
from vigil.api.fastlane import InboundBudget, body_size
from vigil.clock import FakeClock
from vigil.config import Settings
from vigil.storage.db import Database


async def _settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def test_requests_within_the_budget_go_straight_through() -> None:
    async def scenario() -> None:
        budget = InboundBudget(1000)
        assert await budget.take(400) == 400
        assert await budget.take(600) == 600
        assert budget.held == 1000

    asyncio.run(scenario())


def test_a_request_over_the_budget_waits_until_enough_is_given_back() -> None:
    async def scenario() -> None:
        budget = InboundBudget(1000)
        await budget.take(800)
        waiting = asyncio.ensure_future(budget.take(300))
        await _settle()
        assert not waiting.done()
        budget.give_back(800)
        await _settle()
        assert waiting.result() == 300
        assert budget.held == 300

    asyncio.run(scenario())


def test_waiting_requests_go_in_their_order_and_a_small_one_does_not_overtake() -> None:
    async def scenario() -> None:
        budget = InboundBudget(1000)
        order: list[str] = []

        async def request(name: str, size: int) -> None:
            await budget.take(size)
            order.append(name)

        await budget.take(900)
        large = asyncio.ensure_future(request("large", 700))
        await _settle()
        small = asyncio.ensure_future(request("small", 50))  # would fit, but comes second
        await _settle()
        assert order == []
        budget.give_back(900)
        await asyncio.gather(large, small)
        assert order == ["large", "small"]

    asyncio.run(scenario())


def test_a_body_larger_than_the_whole_budget_still_gets_through_alone() -> None:
    async def scenario() -> None:
        budget = InboundBudget(1000)
        await budget.take(10)
        huge = asyncio.ensure_future(budget.take(5000))
        await _settle()
        assert not huge.done()
        budget.give_back(10)
        await _settle()
        assert huge.result() == 1000  # it takes the whole budget, no more
        budget.give_back(1000)
        assert budget.held == 0

    asyncio.run(scenario())


def test_a_request_that_gives_up_waiting_leaves_nothing_held_and_lets_the_next_in() -> None:
    async def scenario() -> None:
        budget = InboundBudget(1000)
        await budget.take(600)
        gave_up = asyncio.ensure_future(budget.take(900))
        await _settle()
        behind = asyncio.ensure_future(budget.take(300))
        await _settle()
        gave_up.cancel()
        await _settle()
        assert behind.result() == 300
        assert budget.held == 900
        # Granted, then cancelled before it ran: what it was granted comes back.
        budget.give_back(900)
        await budget.take(1000)
        granted_late = asyncio.ensure_future(budget.take(500))
        await _settle()
        budget.give_back(1000)  # grants `granted_late` ...
        granted_late.cancel()  # ... which is cancelled before it runs
        await _settle()
        assert budget.held == 0

    asyncio.run(scenario())


def test_a_body_refused_before_it_is_read_does_not_queue_behind_others() -> None:
    async def scenario() -> None:
        budget = InboundBudget(1000)
        await budget.take(1000)
        queued = asyncio.ensure_future(budget.take(500))
        await _settle()
        assert await budget.take(0) == 0  # answered 413 at once, not after `queued`
        assert not queued.done()
        queued.cancel()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("declared", "size"),
    [("2048", 2048), (None, 1_048_576), ("chunked?", 1_048_576), ("2000000", 0)],
)
def test_a_body_counts_as_its_declared_length_or_the_limit(declared: str | None, size: int) -> None:
    """A body over the limit is refused before it is read, so it holds nothing."""
    assert body_size(declared, 1_048_576) == size


@pytest.fixture
def small_budget_client(
    db: Database, clock: FakeClock, settings: Settings
) -> Iterator[tuple[TestClient, Any]]:
    tight = settings.model_copy(update={"inbound_bytes_in_flight": 1024})
    app = create_app(tight, db=db, clock=clock)
    with TestClient(app) as test_client:
        yield test_client, app


def test_a_burst_over_the_budget_is_answered_in_full_and_every_alert_committed(
    small_budget_client: tuple[TestClient, Any], key: str, auth: dict[str, str]
) -> None:
    """Each body is over the whole budget, so the requests go through one at a time."""
    client, app = small_budget_client
    path = f"/integrations/prometheus/{key}/api/v2/alerts"
    bodies = [
        [prometheus_alert(f"Burst{n}", instance=f"host-{n}-{i}:9100") for i in range(8)]
        for n in range(12)
    ]

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda body: client.post(path, json=body).status_code, bodies))

    assert statuses == [200] * 12
    assert app.state.inbound_budget.held == 0
    listed = client.get("/api/v1/incidents", params={"limit": 100}, headers=auth).json()
    assert len(listed["items"]) == 12
