"""The ingest writer's transactions run on a connection it keeps: each commit lands, a failed
one writes nothing, and the next one after a failure starts on a fresh connection."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from vigil.storage.db import Database


@pytest.fixture
def table(database_url: str) -> Iterator[tuple[Database, str]]:
    """A real (unbound) Database and a table of this test's own in the shared test database."""
    name = f"pinned_{uuid.uuid4().hex[:8]}"
    db = Database.from_url(database_url)
    with db.unit_of_work() as session:
        session.execute(sa.text(f"CREATE TABLE {name} (n INTEGER PRIMARY KEY)"))
    yield db, name
    with db.unit_of_work() as session:
        session.execute(sa.text(f"DROP TABLE {name}"))
    db.dispose()


def _dbapi_connection(session: sa.orm.Session) -> object:
    return session.connection().connection.dbapi_connection


def _count(db: Database, name: str) -> int:
    with db.read_session() as session:
        return int(session.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one())


def test_the_writer_keeps_its_connection_and_every_commit_lands(
    table: tuple[Database, str],
) -> None:
    db, name = table
    used = []
    for n in range(3):
        with db.pinned_unit_of_work() as session:
            session.execute(sa.text(f"INSERT INTO {name} VALUES ({n})"))
            used.append(_dbapi_connection(session))
    assert used[0] is used[1] is used[2]
    assert _count(db, name) == 3


def test_a_failed_transaction_writes_nothing_and_the_next_one_gets_a_fresh_connection(
    table: tuple[Database, str],
) -> None:
    db, name = table
    with db.pinned_unit_of_work() as session:
        session.execute(sa.text(f"INSERT INTO {name} VALUES (1)"))
        first = _dbapi_connection(session)
    with pytest.raises(sa.exc.IntegrityError), db.pinned_unit_of_work() as session:
        session.execute(sa.text(f"INSERT INTO {name} VALUES (2)"))
        session.execute(sa.text(f"INSERT INTO {name} VALUES (1)"))  # a duplicate key
    with db.pinned_unit_of_work() as session:
        session.execute(sa.text(f"INSERT INTO {name} VALUES (3)"))
        assert _dbapi_connection(session) is not first
    assert _count(db, name) == 2  # 1 and 3; 2 went with its failed transaction
