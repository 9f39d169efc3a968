"""On PostgreSQL an ingest commit waits for the server twice, and never acts on a stale service.

Each wait is a round trip: on a busy two-core machine ~100 µs of waking the server and being
woken, and the writer holds its service's lock throughout. A commit of single alerts joining
open incidents used to wait five times (psycopg's BEGIN alone, the service and its lock, the
read, the writes, the COMMIT). Now its BEGIN and its service's lock travel with the pass's read,
and its writes with the COMMIT (`vigil.storage.driver.DeferredTransaction`): the writer decides
with the service it remembers from the last commit and compares it with the service as locked
before committing. The count comes from libpq's own trace of the messages: a round trip is a
run of the client's messages answered by the server's.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from tests.conftest import T0
from tests.integration.ingest.committed import committed_service
from tests.payloads import prometheus_alert
from vigil.alerts.models import Alert
from vigil.clock import FakeClock
from vigil.config import Settings
from vigil.errors import NotFound
from vigil.incidents.comms import command_config
from vigil.integrations.prometheus import parse_postable_alerts
from vigil.integrations.writer import IngestJob, IngestWriter
from vigil.notify.service import LinkConfig
from vigil.services import service as services
from vigil.services.models import GroupingMode, Service
from vigil.services.schemas import ServiceCreate, ServiceUpdate
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
    data = ServiceCreate(name="trips", grouping_mode=GroupingMode.LABELS, group_by=["alertname"])
    with committed_service(engine, data) as service:
        yield service.key


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


@pytest.fixture
def writer(database_url: str, settings: Settings, clock: FakeClock) -> Iterator[IngestWriter]:
    """The ingest writer as its process runs it: its own database and pinned connection."""
    db = Database.from_url(database_url, ingest_writer=True)
    links = LinkConfig(base_url=settings.base_url, secret="test")
    yield IngestWriter(db, clock, command_config(settings, links), on_paging=lambda: None)
    db.dispose()


def _answers(writer: IngestWriter, jobs: list[IngestJob]) -> list[Any]:
    writer.commit(jobs)
    return [job.answer for job in jobs]


def _traced(writer: IngestWriter, first: list[IngestJob], then: list[IngestJob]) -> str:
    """Commit `first`, then `then` with libpq tracing the writer's connection: the trace."""
    connections: list[Any] = []
    event.listen(writer.db.engine, "connect", lambda dbapi, _record: connections.append(dbapi))
    writer.commit(first)
    [pinned] = connections
    with tempfile.TemporaryFile() as trace:
        pinned.pgconn.trace(trace.fileno())
        writer.commit(then)
        pinned.pgconn.untrace()  # flushes the trace
        trace.seek(0)
        return trace.read().decode()


def _remember(writer: IngestWriter, key: str, clock: FakeClock) -> None:
    """A first commit of one alert (Alert0), after which the writer remembers the service."""
    [first] = _answers(writer, _jobs(key, 0, 1, clock))
    assert first.alerts_created == len(first.incidents_opened) == 1


def test_a_commit_of_single_alerts_waits_for_postgresql_twice(
    writer: IngestWriter, committed_key: str, clock: FakeClock
) -> None:
    first = _jobs(committed_key, 0, 8, clock)  # opens the two incidents
    joining = _jobs(committed_key, 8, 8, clock)

    messages = _traced(writer, first, joining)

    assert [job.answer.alerts_created for job in first] == [1] * 8
    assert [job.answer.alerts_created for job in joining] == [1] * 8
    assert _round_trips(messages) == 2


def test_a_commit_of_repeated_alerts_waits_for_postgresql_twice(
    writer: IngestWriter, committed_key: str, clock: FakeClock
) -> None:
    """Repeats update their alerts: those updates wait for the COMMIT too."""
    repeated = _jobs(committed_key, 0, 8, clock)

    messages = _traced(writer, _jobs(committed_key, 0, 8, clock), repeated)

    answers = [job.answer for job in repeated]
    assert [(a.alerts_created, a.alerts_updated) for a in answers] == [(0, 1)] * 8
    assert _round_trips(messages) == 2


def test_a_service_changed_since_the_last_commit_is_used_as_it_is_now(
    writer: IngestWriter, committed_key: str, engine: sa.Engine, clock: FakeClock
) -> None:
    """The writer remembers the service grouping by alertname; ungrouped since, the next
    commit's two alerts open an incident each, though they share an alertname."""
    _remember(writer, committed_key, clock)
    with Session(engine) as other:
        service = services.service_for_key(other, key=committed_key)
        services.update_service(
            other,
            service_id=service.id,
            data=ServiceUpdate(grouping_mode=GroupingMode.NONE),
            now=T0,
        )
        other.commit()

    second = _answers(writer, _jobs(committed_key, 2, 2, clock))  # Alert0 and Alert1...
    third = _answers(writer, _jobs(committed_key, 4, 1, clock))  # ...and Alert0 again

    assert [len(answer.incidents_opened) for answer in second + third] == [1, 1, 1]


def test_a_key_revoked_since_the_last_commit_is_refused(
    writer: IngestWriter, committed_key: str, engine: sa.Engine, clock: FakeClock
) -> None:
    _remember(writer, committed_key, clock)
    with Session(engine) as other:
        service = services.service_for_key(other, key=committed_key)
        [key] = services.list_integration_keys(other, service_id=service.id)
        services.revoke_integration_key(other, service_id=service.id, key_id=key.id, now=T0)
        other.commit()

    [refused] = _answers(writer, _jobs(committed_key, 1, 1, clock))

    assert isinstance(refused, NotFound)
    with Session(engine) as other:
        stored = other.scalar(
            sa.select(sa.func.count()).select_from(Alert).where(Alert.service_id == service.id)
        )
    assert stored == 1


def test_a_service_deleted_since_the_last_commit_is_refused_as_unknown(
    writer: IngestWriter, committed_key: str, engine: sa.Engine, clock: FakeClock
) -> None:
    _remember(writer, committed_key, clock)
    with Session(engine) as other:
        service = services.service_for_key(other, key=committed_key)
        other.execute(sa.delete(Service).where(Service.id == service.id))
        other.commit()

    [refused] = _answers(writer, _jobs(committed_key, 1, 1, clock))

    assert isinstance(refused, NotFound)
