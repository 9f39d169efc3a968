"""Writing the timeline: `record` for one entry, `record_many` for a set-based batch."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vigil.timeline.models import EventKind, IncidentEvent


def record(
    session: Session,
    *,
    incident_id: int,
    kind: EventKind,
    now: datetime,
    actor_user_id: int | None = None,
    message: str = "",
    data: dict[str, Any] | None = None,
) -> IncidentEvent:
    """Add one entry to an incident's timeline."""
    event = IncidentEvent(
        incident_id=incident_id,
        kind=kind,
        at=now,
        actor_user_id=actor_user_id,
        message=message,
        data=data or {},
    )
    session.add(event)
    return event


def record_many(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    """Insert many prepared entries at once (keys: incident_id, kind, at, actor_user_id, message,
    data)."""
    batch = list(rows)
    if batch:
        session.flush()  # entries added one by one earlier keep their place in the order
        session.execute(sa.insert(IncidentEvent.__table__), batch)
