"""Reading alerts: list and get."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vigil.alerts.models import Alert
from vigil.errors import NotFound
from vigil.storage.pagination import parse_cursor


def list_alerts(
    session: Session,
    *,
    service_id: int | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Alert], str | None]:
    query = sa.select(Alert).order_by(Alert.id.desc()).limit(limit + 1)
    if service_id is not None:
        query = query.where(Alert.service_id == service_id)
    if status is not None:
        query = query.where(Alert.status == status)
    after = parse_cursor(cursor)
    if after is not None:
        query = query.where(Alert.id < after)
    rows = list(session.scalars(query))
    next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def get_alert(session: Session, *, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"alert {alert_id} not found", field="alert_id")
    return alert
