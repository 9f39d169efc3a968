"""Services and their integration keys: plain functions over a session that never commit."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vigil.accounts.models import Team
from vigil.errors import Conflict, NotFound, ValidationFailed
from vigil.escalation.models import EscalationPolicy
from vigil.services.models import ChangeEvent, IntegrationKey, Service
from vigil.services.schemas import IntegrationKeyCreate, ServiceCreate, ServiceUpdate
from vigil.storage.driver import Driver, Query


def new_integration_key() -> str:
    """32 random characters, the length PagerDuty clients expect of a routing key."""
    return secrets.token_hex(16)


def create_service(session: Session, *, data: ServiceCreate, now: datetime) -> Service:
    """Create a service with one integration key per requested type."""
    _ensure_free_name(session, data.name)
    _ensure_team(session, data.team_id)
    _ensure_policy(session, data.escalation_policy_id)
    service = Service(
        **data.model_dump(exclude={"integration_types"}, mode="json"),
        created_at=now,
        updated_at=now,
    )
    session.add(service)
    session.flush()
    for kind in dict.fromkeys(data.integration_types):
        create_integration_key(
            session,
            service_id=service.id,
            data=IntegrationKeyCreate(type=kind, name=kind.value),
            now=now,
        )
    return service


def update_service(
    session: Session, *, service_id: int, data: ServiceUpdate, now: datetime
) -> Service:
    service = get_service(session, service_id=service_id)
    changes = data.model_dump(exclude_unset=True, mode="json")
    for required in ("name", "grouping_mode", "group_by", "group_window_seconds", "auto_resolve"):
        if required in changes and changes[required] is None:
            raise ValidationFailed(f"{required} cannot be null", field=required)
    nullable = {"team_id", "escalation_policy_id", "support_hours", "ack_timeout_minutes"}
    changes = {k: v for k, v in changes.items() if v is not None or k in nullable}
    if changes.get("escalation_policy_id") is not None:
        _ensure_policy(session, changes["escalation_policy_id"])
    if "name" in changes and changes["name"] != service.name:
        _ensure_free_name(session, changes["name"])
    if "team_id" in changes:
        _ensure_team(session, changes["team_id"])
    for name, value in changes.items():
        setattr(service, name, value)
    service.updated_at = now
    session.flush()
    return service


def lock_service(session: Session, *, service_id: int) -> Service:
    """The service, locked until the transaction ends (PostgreSQL): ingest into it waits, and a
    check made now (its open incidents) still holds when the transaction commits."""
    service = session.scalar(sa.select(Service).where(Service.id == service_id).with_for_update())
    if service is None:
        raise NotFound(f"service {service_id} not found", field="service_id")
    return service


def delete_service(session: Session, *, service_id: int) -> None:
    """Delete a service and what refers to it by foreign key (its incidents, keys, ...);
    `vigil.incidents.service.delete_service` locks it, checks it and deletes its alerts first."""
    session.delete(get_service(session, service_id=service_id))
    session.flush()


def _ensure_free_name(session: Session, name: str) -> None:
    if session.scalar(sa.select(Service.id).where(Service.name == name)) is not None:
        raise Conflict(f"a service named {name!r} already exists", field="name")


def _ensure_policy(session: Session, policy_id: int | None) -> None:
    if policy_id is not None and session.get(EscalationPolicy, policy_id) is None:
        raise ValidationFailed(
            f"escalation policy {policy_id} does not exist", field="escalation_policy_id"
        )


def _ensure_team(session: Session, team_id: int | None) -> None:
    if team_id is not None and session.get(Team, team_id) is None:
        raise ValidationFailed(f"team {team_id} does not exist", field="team_id")


def get_service(session: Session, *, service_id: int) -> Service:
    service = session.get(Service, service_id)
    if service is None:
        raise NotFound(f"service {service_id} not found", field="service_id")
    return service


def find_service(session: Session, *, ref: str) -> Service:
    """A service by id or exact name."""
    if ref.isascii() and ref.isdigit() and len(ref) <= 10:
        return get_service(session, service_id=int(ref))
    if "\x00" in ref or len(ref) > 100:
        raise NotFound(f"service {ref[:100]!r} not found", field="service")
    service = session.scalar(sa.select(Service).where(Service.name == ref))
    if service is None:
        raise NotFound(f"service {ref!r} not found", field="service")
    return service


def list_services(session: Session) -> list[Service]:
    return list(session.scalars(sa.select(Service).order_by(Service.name)))


def create_integration_key(
    session: Session, *, service_id: int, data: IntegrationKeyCreate, now: datetime
) -> IntegrationKey:
    get_service(session, service_id=service_id)
    key = IntegrationKey(
        service_id=service_id,
        type=data.type,
        name=data.name or data.type.value,
        key=new_integration_key(),
        created_at=now,
    )
    session.add(key)
    session.flush()
    return key


def list_integration_keys(session: Session, *, service_id: int) -> list[IntegrationKey]:
    return list(
        session.scalars(
            sa.select(IntegrationKey)
            .where(IntegrationKey.service_id == service_id)
            .order_by(IntegrationKey.id)
        )
    )


def revoke_integration_key(
    session: Session, *, service_id: int, key_id: int, now: datetime
) -> IntegrationKey:
    key = session.get(IntegrationKey, key_id)
    if key is None or key.service_id != service_id:
        raise NotFound(
            f"integration key {key_id} not found on service {service_id}", field="key_id"
        )
    if key.revoked_at is None:
        key.revoked_at = now
    session.flush()
    return key


def record_change_event(
    session: Session,
    *,
    service_id: int,
    summary: str,
    source: str | None,
    occurred_at: datetime,
    details: dict[str, Any],
    links: list[dict[str, Any]],
    now: datetime,
) -> ChangeEvent:
    """A deploy or config change on the service's timeline: context, never a page."""
    event = ChangeEvent(
        service_id=service_id,
        summary=summary,
        source=source,
        occurred_at=occurred_at,
        received_at=now,
        details=details,
        links=links,
    )
    session.add(event)
    session.flush()
    return event


_SERVICES = Service.__table__
# Straight on the driver: every inbound commit looks its keys up.
_SERVICE_FOR_KEY_TEXT = (
    f"SELECT {', '.join(f's.{c.name}' for c in _SERVICES.columns)} FROM services s"
    " JOIN integration_keys k ON k.service_id = s.id"
    " WHERE k.key = :key AND k.revoked_at IS NULL"
)
_SERVICE_FOR_KEY = Query(_SERVICE_FOR_KEY_TEXT, list(_SERVICES.columns))
# The same, taking the service's ingest lock (`vigil.integrations.ingest`) on PostgreSQL; SQLite's
# write transaction already holds the database's only write lock.
_SERVICE_FOR_KEY_LOCKED = Query(
    _SERVICE_FOR_KEY_TEXT,
    list(_SERVICES.columns),
    postgres=_SERVICE_FOR_KEY_TEXT + " FOR NO KEY UPDATE OF s",
)


def service_for_key(session: Session, *, key: str, lock: bool = False) -> Any:
    """The service an inbound integration key sends to (its columns, read-only); NotFound for
    unknown or revoked keys.

    Every key works on every inbound endpoint: its type records what it was made for. `lock`
    also takes the service's ingest lock, saving the statement that would take it; a caller
    holding it must lock no other service afterwards (services are locked in id order).
    """
    if "\x00" in key or len(key) > 64:
        raise NotFound("unknown or revoked integration key", field="key")
    found = Driver(session).records(_SERVICE_FOR_KEY_LOCKED if lock else _SERVICE_FOR_KEY, key=key)
    if not found:
        raise NotFound("unknown or revoked integration key", field="key")
    return found[0]


def lock_service_for_key_later(session: Session, *, key: str) -> Callable[[], Any | None]:
    """`service_for_key(lock=True)` sent with the transaction's next statement where the
    driver defers statements (`Driver.records_later`); the function returned gives the service
    as it is once locked, or None for an unknown or revoked key."""
    read = Driver(session).records_later(_SERVICE_FOR_KEY_LOCKED, key=key)
    return lambda: next(iter(read()), None)
