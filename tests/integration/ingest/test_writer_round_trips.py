"""On PostgreSQL an ingest commit waits for the server three times, whatever it carries.

Each wait is a round trip: on a busy two-core machine ~100 µs of waking the server and being
woken, and the writer holds its service's lock throughout. A commit of single alerts joining
open incidents used to wait five times (psycopg's BEGIN alone, the service and its lock, the
read, the writes, the COMMIT); its BEGIN now travels with the service's lookup and its writes
with the COMMIT (`vigil.storage.driver.DeferredTransaction`). The count comes from libpq's own
trace of the messages: a round trip is a run of the client's messages answered by the server's.
"""

from __future__ import annotations

import itertools
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from tests.conftest import T0
from tests.payloads import prometheus_alert
from vigil.api.app import command_config
from vigil.clock import FakeClock
from vigil.config import Settings
from vigil.integrations.prometheus import parse_postable_alerts
from vigil.integrations.writer import IngestJob, IngestWriter
from vigil.notify.service import LinkConfig
from vigil.services import service as services
from vigil.services.models import GroupingMode, Service
from vigil.services.schemas import ServiceCreate
from vigil.storage.db import Database


class _Nowhere:
    def deliver(self, jobs: list[IngestJob]) -> None:
        pass


@pytest.fixture
def committed_key(engine: sa.Engine, backend: str) -> Iterator[str]:
    """A service grouping by alertname, committed for real (the writer has its own
    connection)."""
    if backend != "postgresql":
        pytest.skip("SQLite has no round trips")
    with Session(engine) as setup:
        service = services.create_service(
            setup,
            data=ServiceCreate(
                name=f"trips-{uuid.uuid4().hex[:8]}",
                grouping_mode=GroupingMode.LABELS,
                group_by=["alertname"],
            ),
            now=T0,
        )
        setup.commit()
        key = services.list_integration_keys(setup, service_id=service.id)[0].key
        service_id = service.id
    yield key
    with Session(engine) as cleanup:
        cleanup.execute(sa.delete(Service).where(Service.id == service_id))
        cleanup.commit()


def _round_trips(trace: str) -> int:
    """Runs of frontend (F) messages that the backend (B) answered."""
    directions = [line.split("\t")[1] for line in trace.splitlines() if "\t" in line]
    return sum(1 for a, b in itertools.pairwise(directions) if (a, b) == ("F", "B"))


def _jobs(key: str, first: int, count: int, clock: FakeClock) -> list[IngestJob]:
    jobs = []
    for n in range(first, first + count):
        # Two alertnames: after the first commit, every alert joins an open incident.
        body = [prometheus_alert(f"Alert{n % 2}", instance=f"db-{n}:9100")]
        events = parse_postable_alerts(body, now=clock.now(), body_size=300, raw_limit=4096)
        jobs.append(IngestJob(key=key, events=events, reply_to=_Nowhere()))
    return jobs


def test_a_commit_of_single_alerts_waits_for_postgresql_three_times(
    database_url: str, committed_key: str, settings: Settings, clock: FakeClock
) -> None:
    db = Database.from_url(database_url, ingest_writer=True)
    connections: list[Any] = []
    event.listen(
        db.engine, "connect", lambda dbapi_connection, _: connections.append(dbapi_connection)
    )
    links = LinkConfig(base_url=settings.base_url, secret="test")
    writer = IngestWriter(db, clock, command_config(settings, links), on_paging=lambda: None)
    try:
        first = _jobs(committed_key, 0, 8, clock)
        writer.commit(first)  # opens the two incidents
        assert all(job.answer is not None and job.answer.alerts_created == 1 for job in first)
        [pinned] = connections

        joining = _jobs(committed_key, 8, 8, clock)
        with tempfile.TemporaryFile() as trace:
            pinned.pgconn.trace(trace.fileno())
            writer.commit(joining)
            pinned.pgconn.untrace()  # flushes the trace
            trace.seek(0)
            messages = trace.read().decode()

        assert all(job.answer is not None and job.answer.alerts_created == 1 for job in joining)
        assert _round_trips(messages) == 3
    finally:
        db.dispose()
