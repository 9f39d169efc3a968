"""The ingest writer's transactions run on a connection it keeps: each commit lands, a failed
one writes nothing, and the next one after a failure starts on a fresh connection. On
PostgreSQL its BEGIN and its last writes wait to travel with other statements
(`DeferredTransaction`), which must change nothing of that."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from vigil.storage.db import Database
from vigil.storage.driver import Driver, Sql


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


def _table_sql(text: str, name: str) -> Sql:
    return Sql(text.replace("{table}", name))


def test_writes_flushed_at_the_end_of_a_commit_land_with_it(table: tuple[Database, str]) -> None:
    """On PostgreSQL the writer's last writes travel with its COMMIT; they land all the same."""
    db, name = table
    insert = _table_sql("INSERT INTO {table} (n) VALUES (:n)", name)
    with db.pinned_unit_of_work() as session:
        driver = Driver(session)
        driver.run_many(insert, [{"n": 1}, {"n": 2}], later=True)
        driver.flush()
    assert _count(db, name) == 2


def test_a_read_after_flushed_writes_sees_them_whichever_way_it_is_made(
    table: tuple[Database, str],
) -> None:
    """Writes left to travel with the next statement are in place before that statement runs:
    a driver read and a SQLAlchemy read of the same transaction both see them."""
    db, name = table
    insert = _table_sql("INSERT INTO {table} (n) VALUES (:n)", name)
    count = _table_sql("SELECT count(*) FROM {table}", name)
    with db.pinned_unit_of_work() as session:
        driver = Driver(session)
        driver.run_many(insert, [{"n": 1}], later=True)
        driver.flush()
        assert driver.rows(count) == [(1,)]
        driver.run_many(insert, [{"n": 2}], later=True)
        driver.flush()
        assert session.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one() == 2
    assert _count(db, name) == 2


def test_a_write_that_fails_at_the_commit_fails_the_whole_transaction(
    table: tuple[Database, str],
) -> None:
    """A duplicate key in writes that travel with the COMMIT raises SQLAlchemy's IntegrityError,
    writes nothing of the transaction, and the next transaction works."""
    db, name = table
    insert = _table_sql("INSERT INTO {table} (n) VALUES (:n)", name)
    with db.pinned_unit_of_work() as session:
        session.execute(sa.text(f"INSERT INTO {name} VALUES (1)"))
    with pytest.raises(sa.exc.IntegrityError), db.pinned_unit_of_work() as session:
        driver = Driver(session)
        driver.run_many(insert, [{"n": 2}], later=True)
        driver.flush()
        assert driver.rows(_table_sql("SELECT count(*) FROM {table}", name)) == [(2,)]
        driver.run_many(insert, [{"n": 1}], later=True)  # a duplicate, sent with the COMMIT
        driver.flush()
    assert _count(db, name) == 1
    with db.pinned_unit_of_work() as session:
        session.execute(sa.text(f"INSERT INTO {name} VALUES (3)"))
    assert _count(db, name) == 2


def test_a_transaction_that_fails_before_its_commit_leaves_nothing_of_what_it_wrote(
    table: tuple[Database, str],
) -> None:
    db, name = table
    insert = _table_sql("INSERT INTO {table} (n) VALUES (:n)", name)
    with pytest.raises(RuntimeError), db.pinned_unit_of_work() as session:
        driver = Driver(session)
        driver.run_many(insert, [{"n": 1}], later=True)
        driver.flush()
        driver.rows(_table_sql("SELECT count(*) FROM {table}", name))  # the write went out
        raise RuntimeError("the pass failed")
    assert _count(db, name) == 0


def test_a_transaction_that_ran_nothing_commits_without_a_word(
    table: tuple[Database, str],
) -> None:
    db, name = table
    with db.pinned_unit_of_work() as session:
        connection = _dbapi_connection(session)
    with db.pinned_unit_of_work() as session:
        session.execute(sa.text(f"INSERT INTO {name} VALUES (1)"))
        assert _dbapi_connection(session) is connection
    assert _count(db, name) == 1
