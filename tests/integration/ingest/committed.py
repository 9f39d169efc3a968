"""A service committed for real, for tests whose transactions run on connections of their own.

Such a service outlives the test's rolled-back transaction, so it is deleted at the end with
everything ingest wrote for it. Its alerts go by hand: they refer to the service without a
foreign key (migration 0011), and alerts left behind would show up in later tests' listings.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.conftest import T0
from vigil.alerts.dedup import delete_alerts_of_service
from vigil.services import service as services
from vigil.services.models import Service
from vigil.services.schemas import ServiceCreate


@dataclass(frozen=True)
class CommittedService:
    id: int
    key: str


@contextmanager
def committed_service(engine: sa.Engine, data: ServiceCreate) -> Iterator[CommittedService]:
    """Commit a service (its name made unique), yield its id and integration key, delete it."""
    data = data.model_copy(update={"name": f"{data.name}-{uuid.uuid4().hex[:8]}"})
    with Session(engine) as setup:
        service = services.create_service(setup, data=data, now=T0)
        setup.commit()
        committed = CommittedService(
            id=service.id, key=services.list_integration_keys(setup, service_id=service.id)[0].key
        )
    try:
        yield committed
    finally:
        with Session(engine) as cleanup:
            delete_alerts_of_service(cleanup, committed.id)
            cleanup.execute(sa.delete(Service).where(Service.id == committed.id))
            cleanup.commit()
