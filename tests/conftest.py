"""Shared fixtures: both databases, a transaction per test, a FakeClock, an API client, factories.

Every test that takes `db` (or anything built on it) runs once on SQLite and once on PostgreSQL
when VIGIL_TEST_DATABASE_URL is set; without it the PostgreSQL runs are skipped with a reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from vigil.accounts import service as accounts
from vigil.accounts.models import Role, User
from vigil.accounts.schemas import UserCreate
from vigil.alerts import dedup
from vigil.api.app import create_app
from vigil.clock import FakeClock
from vigil.config import Settings
from vigil.services import service as services
from vigil.services.models import Service
from vigil.services.schemas import ServiceCreate
from vigil.storage import migrate
from vigil.storage.base import Base
from vigil.storage.db import Database, make_engine

PG_URL = os.environ.get("VIGIL_TEST_DATABASE_URL")
BACKENDS = ["sqlite", "postgresql"]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def pytest_report_header(config: pytest.Config) -> str:
    if PG_URL:
        return f"storage tests: SQLite and PostgreSQL ({PG_URL.rsplit('@', 1)[-1]})"
    return (
        "storage tests: SQLite only — PostgreSQL SKIPPED (set VIGIL_TEST_DATABASE_URL to run them)"
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not PG_URL:
        terminalreporter.write_line(
            "NOTE: PostgreSQL was skipped: set VIGIL_TEST_DATABASE_URL to run every storage test "
            "on PostgreSQL too (.ci/run does).",
            yellow=True,
        )


def _reset_postgres(url: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


@pytest.fixture(autouse=True, scope="session")
def _dedup_merges_every_few_alerts() -> Iterator[None]:
    """SQLite merges its recent dedup keys every 40,000 alerts, which no test reaches: in tests
    the tiers merge every three, so every dedup test meets keys on both sides of a merge."""
    kept = dedup.MERGE_EVERY
    dedup.MERGE_EVERY = 3
    yield
    dedup.MERGE_EVERY = kept


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated, empty database of each kind, shared by the session's tests."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'vigil.db'}"
    else:
        if not PG_URL:
            pytest.skip("PostgreSQL skipped: VIGIL_TEST_DATABASE_URL is not set")
        url = PG_URL
        _reset_postgres(url)
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[sa.Engine]:
    """The session's engine on one shared database, which must be as empty at the end as at the
    start: a test that commits for real and leaves rows behind breaks the tests that list
    what is there when they happen to run after it (session 16 found two such fixtures)."""
    engine = make_engine(database_url, pool_size=20)
    yield engine
    left = rows_left_behind(engine)
    engine.dispose()
    assert not left, f"tests left rows behind in the shared {database_url.split(':')[0]}: {left}"


# Bookkeeping, not data: deleting alerts (a cleanup's too) counts a generation there, on SQLite.
_KEPT_BY_CLEANUPS = {"alert_key_merges"}


def rows_left_behind(engine: sa.Engine) -> dict[str, int]:
    """Rows per table of Vigil's schema, for the tables that have any."""
    counts = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in _KEPT_BY_CLEANUPS:
                continue
            count = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            if count:
                counts[table.name] = count
    return counts


@pytest.fixture
def backend(engine: sa.Engine) -> str:
    return engine.dialect.name


@pytest.fixture
def connection(engine: sa.Engine) -> Iterator[sa.Connection]:
    """One connection per test inside a transaction that is rolled back at the end."""
    with engine.connect() as conn:
        transaction = conn.begin()
        yield conn
        transaction.rollback()


@pytest.fixture
def db(engine: sa.Engine, connection: sa.Connection) -> Database:
    return Database(engine, bind=connection)


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    session = db.write_session()
    yield session
    session.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", base_url="http://vigil.test", secret_key="test")


@pytest.fixture
def client(db: Database, clock: FakeClock, settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, db=db, clock=clock)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def make_user(session: Session, clock: FakeClock) -> Any:
    counter = iter(range(1, 10_000))

    def make(role: Role = Role.RESPONDER, **overrides: Any) -> User:
        n = next(counter)
        data = {"name": f"User {n}", "email": f"user{n}@example.com", "role": role, **overrides}
        user = accounts.create_user(session, data=UserCreate(**data), now=clock.now())
        session.commit()
        return user

    return make


@pytest.fixture
def make_service(session: Session, clock: FakeClock) -> Any:
    counter = iter(range(1, 10_000))

    def make(**overrides: Any) -> Service:
        data = {"name": f"service-{next(counter)}", **overrides}
        service = services.create_service(session, data=ServiceCreate(**data), now=clock.now())
        session.commit()
        return service

    return make


@pytest.fixture
def make_token(session: Session, clock: FakeClock) -> Any:
    def make(user: User) -> str:
        _token, plain = accounts.create_token(session, user_id=user.id, name="t", now=clock.now())
        session.commit()
        return plain

    return make


@pytest.fixture
def admin(make_user: Any) -> User:
    user: User = make_user(Role.ADMIN)
    return user


@pytest.fixture
def auth(admin: User, make_token: Any) -> dict[str, str]:
    """Headers of an admin's API token."""
    return {"Authorization": f"Bearer {make_token(admin)}"}


@pytest.fixture
def service(make_service: Any) -> Service:
    svc: Service = make_service(name="checkout")
    return svc


@pytest.fixture
def key(session: Session, service: Service) -> str:
    """The generic integration key of `service`."""
    return services.list_integration_keys(session, service_id=service.id)[0].key
