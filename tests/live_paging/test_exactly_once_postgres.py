"""Exactly-once paging across worker processes on PostgreSQL, counted at a real push receiver.

`vigil serve --no-worker` takes the alerts; two `vigil worker` processes share the escalations and
the outbox. The receiver records every request's Idempotency-Key, so a page sent twice, or never,
shows up as a count other than one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.live_paging.harness import (
    PG_URL,
    Installation,
    Live,
    Processes,
    PushReceiver,
    created,
    installation,
    new_user,
    paged_service,
    poll,
    verification_code,
)

pytestmark = pytest.mark.skipif(
    not PG_URL, reason="PostgreSQL skipped: VIGIL_TEST_DATABASE_URL is not set"
)

INCIDENTS = 500
CRASH_INCIDENTS = 100
BATCH = 100
# The sender's thread pool size (EngineConfig.send_threads): the most one worker has in flight.
SEND_THREADS = 8
# A killed worker's claims are taken again once they expire (CLAIM_FOR, 60 s), so the crash test
# waits that long; the bound leaves room for a slow machine.
RECOVERY_SECONDS = 150.0


@dataclass
class Cluster:
    install: Installation
    processes: Processes
    api: httpx.Client
    workers: list[Live]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One API server without a worker, and two workers, on a fresh PostgreSQL database."""
    with installation("postgresql", tmp_path_factory.mktemp("exactly-once")) as install:
        processes = Processes(install, {"VIGIL_WORKER_INTERVAL_SECONDS": "0.2"})
        try:
            server = processes.serve("--no-worker")
            workers = [processes.worker(), processes.worker()]
            headers = {"Authorization": f"Bearer {install.token}"}
            with httpx.Client(base_url=server.url, headers=headers, timeout=60) as api:
                yield Cluster(install, processes, api, workers)
        finally:
            processes.stop_all()


def push_user(cluster: Cluster, receiver: PushReceiver, name: str) -> tuple[int, str]:
    """A user whose verified push contact method points at the receiver; returns the user's id
    and the receiver path their messages arrive at."""
    user = new_user(cluster.api, name)
    path = f"/push/{user['id']}"
    method = created(
        cluster.api.post(
            f"/api/v1/users/{user['id']}/contact-methods",
            json={"kind": "push", "address": f"{receiver.url}{path}"},
        )
    )
    # The workers send the verification code to the new method itself, as they would a page.
    code = poll(
        lambda: next(
            (
                found
                for d in receiver.at(path)
                if (found := verification_code(d.body.get("subject", "")))
            ),
            None,
        ),
        within=60,
        what=f"the verification message at {path}",
    )
    created(
        cluster.api.post(
            f"/api/v1/users/{user['id']}/contact-methods/{method['id']}/verify",
            json={"code": code},
        )
    )
    return user["id"], path


def open_incidents(api: httpx.Client, key: str, count: int, tag: str) -> None:
    """`count` alerts with distinct dedup keys, `BATCH` per request; each opens an incident."""
    for start in range(0, count, BATCH):
        events = [
            {"summary": f"{tag}: disk full on db-{i}", "dedup_key": f"{tag}-{i}"}
            for i in range(start, min(start + BATCH, count))
        ]
        response = api.post(f"/integrations/generic/{key}", json=events)
        assert response.status_code == 202, response.text
        assert len(response.json()["incidents_opened"]) == len(events)


def planned_pages(install: Installation, user_id: int) -> dict[str, tuple[str, str | None]]:
    """The outbox's pages for one user: idempotency key -> (status, claimed_by)."""
    rows = install.rows(
        "SELECT idempotency_key, status, claimed_by FROM notifications"
        " WHERE user_id = :user AND kind = 'page'",
        user=user_id,
    )
    return {row[0]: (row[1], row[2]) for row in rows}


def all_delivered(
    install: Installation, receiver: PushReceiver, user_id: int, path: str, expected: int
) -> dict[str, tuple[str, str | None]] | None:
    """The outbox once every planned page is recorded as sent and has reached the receiver."""
    planned = planned_pages(install, user_id)
    if len(planned) < expected or any(status == "pending" for status, _ in planned.values()):
        return None
    if not set(planned) <= set(receiver.page_counts(path)):
        return None
    return planned


def assert_no_engine_errors(cluster: Cluster) -> None:
    """The counts must not hide an engine module failing behind retries."""
    for worker in cluster.workers:
        assert "Traceback" not in worker.output(), worker.output()


def test_two_workers_deliver_every_page_of_500_incidents_exactly_once(
    cluster: Cluster, receiver: PushReceiver
) -> None:
    user_id, path = push_user(cluster, receiver, "Erin Exactly")
    _service, key = paged_service(cluster.api, user_id=user_id, name="exactly-once")

    open_incidents(cluster.api, key, INCIDENTS, "once")
    planned = poll(
        lambda: all_delivered(cluster.install, receiver, user_id, path, INCIDENTS),
        within=120,
        what=f"{INCIDENTS} pages at the receiver",
    )

    counts = receiver.page_counts(path)
    assert len(planned) == INCIDENTS
    assert set(counts) == set(planned), "a planned page never arrived, or an unplanned one did"
    assert {k: n for k, n in counts.items() if n != 1} == {}, "some pages arrived more than once"
    numbers = [d.body["incident"]["number"] for d in receiver.pages(path)]
    assert len(set(numbers)) == INCIDENTS, "some incident was paged twice or not at all"
    assert {status for status, _ in planned.values()} == {"sent"}
    assert {claimed for _, claimed in planned.values()} == {None}, "a sent page looks claimed"
    assert_no_engine_errors(cluster)


def test_a_worker_killed_mid_send_loses_nothing_and_resends_only_what_was_in_flight(
    cluster: Cluster, receiver: PushReceiver
) -> None:
    user_id, path = push_user(cluster, receiver, "Kim Killed")
    _service, key = paged_service(cluster.api, user_id=user_id, name="crash")
    pids = {worker.pid: worker for worker in cluster.workers}
    receiver.delay = 0.3  # slow enough that every worker has sends in flight for seconds
    try:
        open_incidents(cluster.api, key, CRASH_INCIDENTS, "crash")

        def sending_worker() -> tuple[Live, str] | None:
            """A worker with pages the receiver has got but whose result is not recorded yet."""
            planned = planned_pages(cluster.install, user_id)
            if len(planned) < CRASH_INCIDENTS:
                return None
            seen = set(receiver.page_counts(path))
            for key_, (status, holder) in planned.items():
                if status == "pending" and holder and key_ in seen:
                    pid = int(holder.split(":")[-2])
                    if pid in pids:
                        return pids[pid], holder
            return None

        victim, holder = poll(sending_worker, within=30, what="a worker sending pages")
        victim.kill_hard()
        # Let the receiver finish reading whatever the dead worker wrote before it died.
        time.sleep(receiver.delay + 0.5)
        seen = set(receiver.page_counts(path))
        in_flight = {
            key_
            for key_, (status, claimed_by) in planned_pages(cluster.install, user_id).items()
            if status == "pending" and claimed_by == holder and key_ in seen
        }
        cluster.workers.remove(victim)
        cluster.workers.append(cluster.processes.worker())

        planned = poll(
            lambda: all_delivered(cluster.install, receiver, user_id, path, CRASH_INCIDENTS),
            within=RECOVERY_SECONDS,
            what="every page after the crash",
        )
    finally:
        receiver.delay = 0.0

    counts = receiver.page_counts(path)
    twice = {k for k, n in counts.items() if n > 1}
    print(f"\nin flight at the kill: {len(in_flight)}; received twice: {len(twice)}")
    assert len(planned) == CRASH_INCIDENTS
    assert set(counts) == set(planned), "a page was lost with the killed worker"
    assert {status for status, _ in planned.values()} == {"sent"}
    assert in_flight, "the kill landed between sends; the test did not exercise a crash mid-send"
    assert len(in_flight) <= SEND_THREADS
    assert twice == in_flight, "only the pages in flight at the kill may arrive twice"
    assert max(counts.values()) == 2
    for key_ in twice:
        copies = [d for d in receiver.pages(path) if d.idempotency_key == key_]
        assert {d.body["idempotency_key"] for d in copies} == {key_}
        assert len({d.body["incident"]["number"] for d in copies}) == 1
    assert_no_engine_errors(cluster)
