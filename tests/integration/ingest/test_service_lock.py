"""The ingest lock on a service serialises ingest, and nothing else (PostgreSQL).

Ingest takes a lock on its service's row for the whole commit, so two commits of one service never
make grouping decisions at the same time. During an alert storm those commits follow each other
back to back; a transaction that only refers to the service (an incident declared on it, whose
foreign key check takes a KEY SHARE lock on the row) must not queue behind them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.conftest import T0
from tests.integration.ingest.committed import committed_service
from vigil.incidents.models import Incident
from vigil.services import service as services
from vigil.services.schemas import ServiceCreate
from vigil.storage.driver import Driver, Insert

_INCIDENTS = Insert(Incident.__table__)


@pytest.fixture
def committed_key(engine: sa.Engine, backend: str) -> Iterator[tuple[int, str]]:
    """A service committed for real (the transactions below run on connections of their own)."""
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time: there is no row lock to share")
    with committed_service(engine, ServiceCreate(name="lock")) as service:
        yield service.id, service.key


def _session(connection: sa.Connection, lock_timeout: str) -> Session:
    connection.exec_driver_sql(f"SET lock_timeout = '{lock_timeout}'")
    return Session(bind=connection)


def _declare_incident(session: Session, service_id: int) -> None:
    driver = Driver(session)
    (incident_id,) = driver.next_ids("incidents", 1)
    row: dict[str, Any] = {
        "id": incident_id,
        "title": "Declared by hand",
        "service_id": service_id,
        "severity": "SEV2",
        "urgency": "high",
        "status": "triggered",
        "created_at": T0,
        "updated_at": T0,
    }
    driver.insert(_INCIDENTS, [row])


def test_an_incident_declared_on_a_service_does_not_wait_for_its_ingest_commits(
    engine: sa.Engine, committed_key: tuple[int, str]
) -> None:
    service_id, key = committed_key
    with engine.connect() as ingest_connection, engine.connect() as other_connection:
        ingest = _session(ingest_connection, "2s")
        services.service_for_key(ingest, key=key, lock=True)  # a storm's commit, in progress
        other = _session(other_connection, "2s")

        _declare_incident(other, service_id)  # would fail on the lock timeout if it waited

        other.rollback()
        ingest.rollback()


def test_a_second_ingest_commit_of_the_service_waits_for_the_first(
    engine: sa.Engine, committed_key: tuple[int, str]
) -> None:
    _service_id, key = committed_key
    with engine.connect() as first_connection, engine.connect() as second_connection:
        first = _session(first_connection, "2s")
        services.service_for_key(first, key=key, lock=True)
        second = _session(second_connection, "200ms")

        with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
            services.service_for_key(second, key=key, lock=True)

        second.rollback()
        first.rollback()
