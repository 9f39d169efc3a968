"""Database leases: the only coordination between workers, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from vigil.storage.base import Base


class Lease(Base):
    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(200))
    expires_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(default=0)


_LEASES = Lease.__table__
# Core (leases are never loaded as objects), built once: every engine step takes its lease.
_TAKE = (
    _LEASES.update()
    .where(
        _LEASES.c.name == sa.bindparam("lease"),
        sa.or_(
            _LEASES.c.holder == sa.bindparam("taker"),
            _LEASES.c.expires_at <= sa.bindparam("now"),
        ),
    )
    .values(
        holder=sa.bindparam("taker"),
        expires_at=sa.bindparam("expires_at"),
        version=_LEASES.c.version + 1,
    )
)

_EXISTS = sa.select(_LEASES.c.name).where(_LEASES.c.name == sa.bindparam("lease"))


def try_acquire(session: Session, *, name: str, holder: str, ttl: timedelta, now: datetime) -> bool:
    """Take or renew the lease if it is free, expired or already ours; True when we hold it.

    A single conditional UPDATE (or INSERT for a new name) decides, so two workers can never both
    win: the row version moves on every change.
    """
    expires_at = now + ttl
    updated = session.execute(
        _TAKE, {"lease": name, "taker": holder, "now": now, "expires_at": expires_at}
    ).rowcount
    if updated:
        return True
    exists = session.execute(_EXISTS, {"lease": name}).first()
    if exists:
        return False
    try:
        with session.begin_nested():
            session.add(Lease(name=name, holder=holder, expires_at=expires_at, version=1))
    except sa.exc.IntegrityError:
        return False
    return True


def release(session: Session, *, name: str, holder: str) -> None:
    session.execute(sa.delete(Lease).where(Lease.name == name, Lease.holder == holder))
