"""Hot-path statements run straight on the database driver, inside the session's transaction.

SQLAlchemy's execution machinery (execution context, parameter processing, result wrapping)
costs 100–300 µs per statement and several µs per bound value. That is nothing for the API and
the engine, but the ingest path runs a handful of statements per commit and binds about 25 values
per alert, and there it was most of the CPU. `Driver` executes plain SQL on the DBAPI connection
of the session (so the statements share its transaction, its locks and its savepoints), and
`Insert` writes rows with one `executemany`, converting values the way SQLAlchemy's column types
store them (the tests read the rows back through the ORM on both databases).

SQL is written once with `:name` parameters; `{name}` marks a list parameter that the statement
tests membership of (`column {keys}`): `IN (SELECT value FROM json_each(?))` on SQLite, where a
list binds as one JSON text, and `= ANY(%s)` on PostgreSQL, where it binds as an array. One
statement text per statement, whatever the list's length, so both drivers keep it prepared.
"""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.orm import Session

from vigil.clock import ensure_utc
from vigil.memo import Memo
from vigil.storage.base import UTCDateTime

# From this many rows, PostgreSQL inserts go through COPY rather than one JSON document
# (see `Driver.insert`).
COPY_FROM_ROWS = 50
# Up to this many parameter sets, PostgreSQL runs a `postgres_rows` statement's per-row text
# once per set, pipelined (see `Driver.run_many`).
PIPELINED_ROWS = 16
_NAMED = re.compile(r"(?<![:\w]):(\w+)|\{(\w+)\}")


def id_sequence(table: str) -> str:
    """SQL naming the PostgreSQL sequence of `table`'s id, as a constant the parser resolves once.

    Every table's id is a SERIAL column, whose sequence is `<table>_id_seq` (no table has been
    renamed since it was created). `pg_get_serial_sequence(table, 'id')` finds the same sequence
    but searches the catalog again for every row: drawing the ids of 1,600 new alerts took 5.3 ms
    that way and 1.2 ms this way.
    """
    return f"'{table}_id_seq'::regclass"


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def _json_value(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


# The connection whose transaction a session joined, in `Session.info`, when the session
# never starts one of its own (`vigil.storage.db.Database.pinned_unit_of_work`).
PINNED_CONNECTION = "vigil.pinned_connection"
# Where a PostgreSQL connection's `DeferredTransaction` lives (`sa.Connection.info`, which
# stays with the driver connection).
DEFERRED_TRANSACTION = "vigil.deferred_transaction"


class DeferredTransaction:
    """A PostgreSQL transaction whose statements that need no answer wait for one that does.

    On loopback each round trip to PostgreSQL costs ~85 µs of waking the server and being woken,
    more on a busy machine, and a commit of single alerts made five: psycopg's BEGIN, the
    service and its lock, the pass's read, its writes, the COMMIT. The ingest writer's connection
    runs in autocommit mode instead, and its transaction is this object: the BEGIN, then the
    writes `Driver.flush` gathered, wait here and go out in one pipeline with the next
    statement whose answer is needed, or with the COMMIT (`commit`). A read can wait too
    (`Driver.records_later`): the writer's lock on its service goes with the pass's read. That
    commit takes two round trips: the BEGIN, the lock and the read; the writes and the COMMIT.

    Every statement on the connection sends what waits first: the `Driver`'s in its own
    pipeline, SQLAlchemy's through `send_deferred` (an engine event), so the order of
    statements is the order they were made in, and nothing runs outside the transaction.
    """

    BEGIN = "BEGIN ISOLATION LEVEL READ COMMITTED"

    __slots__ = ("begun", "waiting")

    def __init__(self) -> None:
        self.waiting: list[tuple[str, list[Any] | None, Later | None, bool | None]] = [
            (self.BEGIN, None, None, None)
        ]
        self.begun = False  # the BEGIN has gone out

    def defer(
        self,
        text: str,
        values: list[Any],
        later: Later | None = None,
        *,
        prepare: bool | None = None,
    ) -> None:
        """Send this statement with the next; `later` keeps its cursor, for a read; `prepare`
        as psycopg's (False: planned for its values, `Sql.plan_each_run`)."""
        self.waiting.append((text, values, later, prepare))

    def send(self, raw: Any, then: Callable[[], object] | None = None) -> None:
        """What waits, then `then` (the caller's statement, on its own cursor), in one round
        trip; a read's cursor goes to its `Later`, the others are closed."""
        waiting, self.waiting = self.waiting, []
        self.begun = True
        done = []
        with raw.pipeline():
            for text, values, later, prepare in waiting:
                cursor = raw.cursor()
                cursor.execute(text, values, prepare=prepare)
                if later is None:
                    done.append(cursor)
                else:
                    later.cursor = cursor
            if then is not None:
                then()
        for cursor in done:
            cursor.close()

    def commit(self, raw: Any) -> None:
        """Send what waits with the COMMIT; a transaction that ran nothing sends nothing."""
        if self.begun or len(self.waiting) > 1:
            self.defer("COMMIT", [])
            self.send(raw)
        self.waiting = []


class Later:
    """A read deferred with a `DeferredTransaction`: its cursor, once the read has gone out."""

    __slots__ = ("cursor",)

    def __init__(self) -> None:
        self.cursor: Any = None


def send_deferred(connection: sa.Connection) -> None:
    """Before SQLAlchemy runs a statement on `connection`: what its transaction deferred."""
    transaction = connection.info.get(DEFERRED_TRANSACTION)
    if transaction is not None and transaction.waiting:
        with sqlalchemy_errors(connection, "(deferred statements)"):
            transaction.send(connection.connection.driver_connection)


def commit_deferred(connection: sa.Connection, transaction: DeferredTransaction) -> None:
    """`DeferredTransaction.commit`, its errors raised as SQLAlchemy's."""
    with sqlalchemy_errors(connection, "COMMIT"):
        transaction.commit(connection.connection.driver_connection)


@contextmanager
def sqlalchemy_errors(
    connection: sa.Connection, statement: str, cursor: Any = None
) -> Iterator[None]:
    """Raise a driver error as SQLAlchemy would have (`OperationalError`, `IntegrityError`, …),
    invalidating a connection that was lost so the pool never hands it out again."""
    dialect = connection.dialect
    error = dialect.loaded_dbapi.Error
    try:
        yield
    except error as exc:
        raw = connection.connection.driver_connection
        invalidated = dialect.is_disconnect(exc, raw, cursor)
        if invalidated:
            connection.invalidate(exc)
        raise sa.exc.DBAPIError.instance(
            statement, None, exc, error, connection_invalidated=invalidated, dialect=dialect
        ) from exc


class Sql:
    """One statement's text for each database, and the order its parameters bind in; `json`
    names the parameters that bind JSON documents.

    `postgres` is another text for PostgreSQL, in the same notation, where its planner needs a
    different shape of the statement; there a list parameter may also appear as a plain `:name`,
    binding the array itself (`unnest(CAST(:keys AS TEXT[]))`).

    `postgres_rows` is a PostgreSQL text that `Driver.run_many` runs once for all its parameter
    sets, passed as one JSON document (`%s`, an array of objects): one statement in the server
    instead of one per set.
    """

    def __init__(
        self,
        text: str,
        *,
        json: Iterable[str] = (),
        postgres: str | None = None,
        postgres_rows: str | None = None,
    ) -> None:
        self.postgres_rows = postgres_rows
        self.names: list[str] = []
        self.postgres_names: list[str] = []
        self.lists: set[str] = set()
        self.json = frozenset(json)

        def sqlite(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            self.names.append(name)
            if match.group(2):
                self.lists.add(name)
                return "IN (SELECT value FROM json_each(?))"
            return "?"

        tests_membership = False

        def postgres_placeholder(match: re.Match[str]) -> str:
            nonlocal tests_membership
            name = match.group(1) or match.group(2)
            self.postgres_names.append(name)
            if match.group(2):
                self.lists.add(name)
                tests_membership = True
                return "= ANY(%s)"
            return "CAST(%s AS JSONB)" if name in self.json else "%s"

        self.sqlite = _NAMED.sub(sqlite, text)
        self.postgres = _NAMED.sub(postgres_placeholder, postgres or text)
        # Where PostgreSQL may keep one plan for all values (the ingest writer's connections),
        # a statement testing membership of a list (`= ANY`), or updating the rows of a JSON
        # document, is still planned at each run, for the values it has: kept, a plan made
        # while the table was small reads all of it (`test_generic_plans.py`). A PostgreSQL
        # text that looks each key up by itself (a lateral subquery per key) leaves the planner
        # nothing else, and is kept prepared: planning it was most of its time.
        self.plan_each_run = tests_membership or postgres_rows is not None


class Query:
    """A `Sql` query whose result columns are `columns` of tables: rows come back as named
    tuples holding what the ORM would read (aware UTC datetimes, booleans, decoded JSON)."""

    def __init__(
        self,
        text: str,
        columns: Sequence[sa.Column[Any]],
        *,
        postgres: str | None = None,
        json: Iterable[str] = (),
    ) -> None:
        self.sql = Sql(text, postgres=postgres, json=json)
        self.row = namedtuple("Row", [column.name for column in columns])  # type: ignore[misc]
        self.sqlite_readers: list[tuple[int, Callable[[Any], Any]]] = []
        for index, column in enumerate(columns):
            if isinstance(column.type, UTCDateTime):
                self.sqlite_readers.append((index, parse_sqlite_datetime))
            elif isinstance(column.type, sa.JSON):
                self.sqlite_readers.append((index, _json_value))
            elif isinstance(column.type, sa.Boolean):
                self.sqlite_readers.append((index, _boolean))
        # psycopg reads timestamptz, boolean and JSONB as Python values already.


def _boolean(value: Any) -> Any:
    return None if value is None else bool(value)


class Driver:
    """The session's own driver connection, for `Sql` statements and `Insert`s.

    Driver errors are raised as SQLAlchemy's own (`OperationalError`, `IntegrityError`, …), as
    if the statement had gone through SQLAlchemy, so callers and the API's error mapping (503
    for trouble a sender should retry) see one kind of error; a lost connection is invalidated
    so the pool never hands it out again.
    """

    __slots__ = ("_connection", "_deferred", "_pending", "_raw", "postgres")

    def __init__(self, session: Session) -> None:
        # The ingest writer's session joins a connection's transaction and says which
        # (`Database.pinned_unit_of_work`): asking the session for it would start the session's
        # own transaction bookkeeping, most of a commit's overhead when the ORM is not used.
        connection = session.info.get(PINNED_CONNECTION) or session.connection()
        self._connection = connection
        self.postgres = connection.dialect.name == "postgresql"
        self._raw = connection.connection.driver_connection
        # Writes waiting for `flush` (PostgreSQL): (statement text, its values).
        self._pending: list[tuple[str, list[Any]]] = []
        # The ingest writer's transaction, where `flush` leaves its statement (PostgreSQL).
        self._deferred: DeferredTransaction | None = connection.info.get(DEFERRED_TRANSACTION)

    @property
    def connection(self) -> sa.Connection:
        """The SQLAlchemy connection whose transaction this driver works in."""
        return self._connection

    def flush(self) -> None:
        """Send the writes waiting since `insert(later=True)` / `run_many(later=True)`, all in
        one statement: each is a `WITH` part of it but the last.

        Each statement costs PostgreSQL a round trip and its own start and end (~150 µs of
        client and server time): a commit of single alerts wrote its alerts, its timeline and
        its incident's count in three. Foreign keys are checked when the whole statement ends,
        so a part may refer to rows another part inserts. The parts run in no set order, so
        only writes that cannot meet go together: inserts, and updates of rows that no other
        part writes. Every other statement of the Driver flushes first, so what it reads or
        writes sees them; a caller that reaches the session by other means flushes itself.
        """
        pending, self._pending = self._pending, []
        if not pending:
            return
        text, values = pending[-1]
        if len(pending) > 1:
            parts = ", ".join(f"w{i} AS ({part})" for i, (part, _) in enumerate(pending[:-1]))
            text = f"WITH {parts} {text}"
            values = [value for _, part_values in pending for value in part_values]
        if self._deferred is not None:  # it goes out with the next statement, or the COMMIT
            self._deferred.defer(text, values)
            return
        with self._cursor(text) as cursor:
            cursor.execute(text, values)

    @contextmanager
    def _cursor(self, statement: str) -> Iterator[Any]:
        if self._pending:
            self.flush()
        cursor = self._raw.cursor()
        try:
            with sqlalchemy_errors(self._connection, statement, cursor):
                yield cursor
        finally:
            with suppress(Exception):
                cursor.close()

    def _text(self, sql: Sql) -> str:
        return sql.postgres if self.postgres else sql.sqlite

    def _send(
        self, cursor: Any, text: str, values: Sequence[Any], *, prepare: bool | None = None
    ) -> None:
        """Run one PostgreSQL statement, in one pipeline with what the transaction deferred."""
        deferred = self._deferred
        if deferred is None or not deferred.waiting:
            cursor.execute(text, values, prepare=prepare)
        else:
            deferred.send(self._raw, lambda: cursor.execute(text, values, prepare=prepare))

    def _send_deferred(self) -> None:
        """What the transaction deferred, alone: before what a pipeline cannot carry (COPY)."""
        if self._deferred is not None and self._deferred.waiting:
            self._deferred.send(self._raw)

    def _params(self, sql: Sql, params: dict[str, Any]) -> list[Any]:
        values = []
        for name in sql.postgres_names if self.postgres else sql.names:
            value = params[name]
            if isinstance(value, Enum):
                value = value.value
            elif isinstance(value, datetime):
                value = value if self.postgres else _sqlite_moment(value)
            elif name in sql.json:
                value = _json_text(value)
            elif name in sql.lists and not self.postgres:
                value = _json_text(list(value))
            elif name in sql.lists:
                value = list(value)
            values.append(value)
        return values

    def _execute(self, cursor: Any, sql: Sql, params: dict[str, Any]) -> None:
        if self.postgres and sql.plan_each_run:
            # Not prepared: planned for these values, whatever the connection's plan cache does.
            self._send(cursor, sql.postgres, self._params(sql, params), prepare=False)
        elif self.postgres:
            self._send(cursor, sql.postgres, self._params(sql, params))
        else:
            cursor.execute(sql.sqlite, self._params(sql, params))

    def rows(self, sql: Sql, **params: Any) -> list[tuple[Any, ...]]:
        """Every row of a query (or of an `UPDATE … RETURNING`)."""
        with self._cursor(self._text(sql)) as cursor:
            self._execute(cursor, sql, params)
            return list(cursor.fetchall())

    def records(self, query: Query, **params: Any) -> list[Any]:
        """The rows of a `Query`, as its named tuples."""
        rows = self.rows(query.sql, **params)
        if self.postgres or not query.sqlite_readers:
            return [query.row._make(row) for row in rows]
        records = []
        for row in rows:
            values = list(row)
            for index, read in query.sqlite_readers:
                values[index] = read(values[index])
            records.append(query.row._make(values))
        return records

    def records_later(self, query: Query, **params: Any) -> Callable[[], list[Any]]:
        """`records`, read with the next statement where the transaction defers statements
        (elsewhere, now); call the function returned for the rows.

        For a read whose answer can wait for the next one: the ingest writer's lock on its
        service travels with the pass's first read, and that read, made after the lock is
        granted, sees everything committed before it.
        """
        if self._deferred is None:
            records = self.records(query, **params)
            return lambda: records
        if self._pending:
            self.flush()
        sql = query.sql
        later = Later()
        self._deferred.defer(sql.postgres, self._params(sql, params), later)

        def rows() -> list[Any]:
            with sqlalchemy_errors(self._connection, sql.postgres, later.cursor):
                if later.cursor is None:  # nothing was sent since: it goes now
                    self._send_deferred()
                try:
                    return [query.row._make(row) for row in later.cursor.fetchall()]
                finally:
                    later.cursor.close()

        return rows

    def run(self, sql: Sql, **params: Any) -> None:
        with self._cursor(self._text(sql)) as cursor:
            self._execute(cursor, sql, params)

    def run_many(self, sql: Sql, params: Sequence[dict[str, Any]], *, later: bool = False) -> None:
        """One statement for many parameter sets (psycopg pipelines them: one round trip; with
        `postgres_rows` and more than PIPELINED_ROWS sets, one statement in all).

        A few sets (a commit of single alerts updates one incident) run the per-row text,
        prepared: a statement updating from a JSON document must be planned at each run (see
        `Sql.plan_each_run`), and planning it cost more than running one prepared update per
        row.

        `later`: on PostgreSQL, a few updates wait for `flush`; only for rows no other waiting
        write touches. Without it, in the ingest writer's PostgreSQL transaction, the statements
        still wait, as statements of their own in order (`DeferredTransaction`): a commit of
        repeated alerts sends its alerts' updates with its COMMIT.
        """
        if not params:
            return
        if later and self.postgres and len(params) <= PIPELINED_ROWS:
            self._pending.extend((sql.postgres, self._params(sql, p)) for p in params)
            return
        if self._deferred is not None:
            # The writer's transaction: statements of their own, after what is pending and in
            # order, sent with the next statement whose answer is needed.
            self.flush()
            if sql.postgres_rows is not None and len(params) > PIPELINED_ROWS:
                self._deferred.defer(sql.postgres_rows, [_document(list(params))], prepare=False)
            else:
                for one in params:
                    self._deferred.defer(sql.postgres, self._params(sql, one))
            return
        if self.postgres and sql.postgres_rows is not None and len(params) > PIPELINED_ROWS:
            self._run_document(sql.postgres_rows, list(params), prepare=False)
            return
        text = self._text(sql)
        with self._cursor(text) as cursor:
            self._send_deferred()
            cursor.executemany(text, [self._params(sql, p) for p in params])

    def next_ids(self, table: str, count: int) -> list[int]:
        """Ids for `count` new rows of `table`, in order.

        PostgreSQL draws them from the table's sequence. On SQLite the caller's transaction holds
        the database's only write lock, so no other writer can insert meanwhile and the next
        rowids are those after the largest (what SQLite would pick itself: no table uses
        AUTOINCREMENT).
        """
        if self.postgres:
            text = f"SELECT nextval({id_sequence(table)}) FROM generate_series(1, %s)"
            with self._cursor(text) as cursor:
                self._send(cursor, text, [count])
                return [row[0] for row in cursor.fetchall()]
        text = f"SELECT COALESCE(MAX(id), 0) FROM {table}"
        with self._cursor(text) as cursor:
            cursor.execute(text)
            last = int(cursor.fetchone()[0])
        return list(range(last + 1, last + 1 + count))

    def insert(
        self, insert: Insert, rows: Iterable[dict[str, Any]], *, later: bool = False
    ) -> None:
        """Write rows (each with every column of the `Insert`, id included) in one statement.

        SQLite runs one prepared INSERT per row in C (`executemany`). PostgreSQL would run one
        INSERT per row in the server even pipelined, and psycopg converts every value in
        Python; it gets the rows instead as one JSON document that the server turns into rows
        (`jsonb_populate_recordset`): for a commit's handful of rows, a third less time and a
        third of the client CPU. From COPY_FROM_ROWS rows on, COPY costs the server less.

        `later`: on PostgreSQL, fewer than COPY_FROM_ROWS rows wait for `flush`.
        """
        if self.postgres:
            self._postgres_insert(insert, rows, later=later)
            return
        values = list(map(insert.sqlite_row, rows))
        if values:
            with self._cursor(insert.sqlite) as cursor:
                cursor.executemany(insert.sqlite, values)

    def sqlite_many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        """A SQLite statement run for rows of positional values, in C (`executemany`)."""
        if rows:
            with self._cursor(statement) as cursor:
                cursor.executemany(statement, rows)

    def insert_values(
        self,
        insert: Insert,
        rows: Sequence[Sequence[Any]],
        *,
        later: bool = False,
        tail: tuple[Any, ...] = (),
    ) -> None:
        """`insert` for rows given as tuples of every column in the `Insert`'s `order`.

        For the ingest writer's alerts: building a dict per row and reading it back column by
        column was a tenth of a batch's time in the writer. `tail`: the values of the last
        columns, the same for every row, which the rows then leave out (`Insert.sqlite_with_tail`).
        """
        if not rows:
            return
        if not self.postgres:
            statement, values = (
                insert.sqlite_with_tail(tail) if tail else (insert.sqlite, insert.sqlite_values)
            )
            with self._cursor(statement) as cursor:
                cursor.executemany(statement, map(values, rows))
            return
        if tail:
            rows = [row + tail for row in rows]
        if len(rows) < COPY_FROM_ROWS:
            names = insert.columns
            complete = [dict(zip(names, row, strict=True)) for row in rows]
            self._postgres_document(insert, complete, later=later)
            return
        self._copy(insert, map(insert.postgres_values, rows))

    def _postgres_insert(
        self, insert: Insert, rows: Iterable[dict[str, Any]], *, later: bool
    ) -> None:
        columns = insert.columns_with_defaults
        rows = list(rows)
        if not rows:
            return
        if len(rows) < COPY_FROM_ROWS:
            complete = [{name: row.get(name, default) for name, default in columns} for row in rows]
            self._postgres_document(insert, complete, later=later)
            return
        self._copy(insert, map(insert.postgres_row, rows))

    def _postgres_document(
        self, insert: Insert, complete: list[dict[str, Any]], *, later: bool
    ) -> None:
        """Insert rows holding every column as one JSON document, now or at `flush`."""
        if later:
            self._pending.append((insert.postgres_from_document, [_document(complete)]))
            return
        self._run_document(insert.postgres_from_document, complete)

    def _copy(self, insert: Insert, rows: Iterable[Sequence[Any]]) -> None:
        """COPY rows, each already in column order and converted, into the insert's table."""
        with self._cursor(insert.postgres_copy) as cursor:
            self._send_deferred()
            with cursor.copy(insert.postgres_copy) as copy:
                for row in rows:
                    copy.write_row(row)

    def update(self, table: sa.Table, columns: Sequence[str], rows: list[dict[str, Any]]) -> None:
        """Set `columns` of the rows with these ids (each row: `id` and those columns).

        On PostgreSQL one statement updates them all from a JSON document (see `insert`); on
        SQLite, one prepared UPDATE per row.
        """
        key = (table.name, tuple(columns))
        statement = _UPDATES.get(key)
        if statement is None:
            statement = _UPDATES[key] = _update_statement(table, columns)
        self.run_many(statement, rows)

    def _run_document(
        self, text: str, rows: list[dict[str, Any]], *, prepare: bool | None = None
    ) -> None:
        with self._cursor(text) as cursor:
            self._send(cursor, text, [_document(rows)], prepare=prepare)


def _document(rows: list[dict[str, Any]]) -> str:
    """Rows as the JSON document PostgreSQL's `jsonb_populate_recordset` reads."""
    return orjson.dumps(rows, option=orjson.OPT_NAIVE_UTC).decode()


_Converters = list[tuple[int, Callable[[Any], Any]]]
RowValues = Callable[[dict[str, Any]], list[Any]]


def _row_values(columns_with_defaults: list[tuple[str, Any]], converters: _Converters) -> RowValues:
    """A function giving a row's values in column order, defaults filled in and converted.

    Generated per `Insert` (as `dataclasses` generates `__init__`): one expression per column
    instead of a loop over the columns and another over the converters, which for a batch of
    alerts was most of the time spent turning rows into what the driver binds.
    """
    defaults = {f"default{i}": default for i, (_, default) in enumerate(columns_with_defaults)}
    # Column names come from the table definitions, never from input.
    reads = [f"row.get({name!r}, default{i})" for i, (name, _) in enumerate(columns_with_defaults)]
    return _generated(reads, converters, defaults)


def _sqlite_literal(value: Any) -> str:
    """`value` as a SQLite literal: NULL, an integer, or a string quoted the only way SQLite
    quotes one (a quote doubled; no other escapes exist). Values of other types have been
    converted by their column's conversion already (moments and JSON to text)."""
    if value is None:
        return "NULL"
    if isinstance(value, int):  # a bool too: sqlite3 binds True as 1
        return str(int(value))
    if not isinstance(value, str):
        raise TypeError(f"no SQLite literal for {value.__class__.__name__}")
    if "\x00" in value:  # a NUL would end the statement's text early
        raise ValueError("no SQLite literal for text holding NUL")
    return "'" + str.replace(value, "'", "''") + "'"


def _converted_values(
    width: int, converters: _Converters, as_text: frozenset[int] = frozenset()
) -> Callable[[Sequence[Any]], list[Any]]:
    """`_row_values` for a row that is already a tuple of every column's value in order
    (`Driver.insert_values`): only the conversions are left, and a `str` in a column of
    `as_text` is taken as already converted."""
    return _generated([f"row[{index}]" for index in range(width)], converters, {}, as_text)


def _generated(
    reads: list[str],
    converters: _Converters,
    namespace: dict[str, Any],
    as_text: frozenset[int] = frozenset(),
) -> Any:
    """`def row_values(row): return [each read, converted where a converter says]`."""
    by_index = dict(converters)
    values = []
    for index, read in enumerate(reads):
        if index in by_index:
            namespace[f"convert{index}"] = by_index[index]
            if index in as_text:
                read = f"(v if (v := {read}).__class__ is str else convert{index}(v))"
            else:
                read = f"convert{index}({read})"
        values.append(read)
    exec(f"def row_values(row):\n    return [{', '.join(values)}]\n", namespace)
    return namespace["row_values"]


def _update_statement(table: sa.Table, columns: Sequence[str]) -> Sql:
    """`UPDATE table SET columns … WHERE id = …` (`Driver.update`)."""
    json_columns = {c.name for c in table.columns if isinstance(c.type, sa.JSON)}
    assignments = ", ".join(f"{name} = :{name}" for name in columns)
    return Sql(
        f"UPDATE {table.name} SET {assignments} WHERE id = :id",
        json=json_columns.intersection(columns),
        postgres_rows=(
            f"UPDATE {table.name} AS t SET {', '.join(f'{n} = r.{n}' for n in columns)}"
            f" FROM jsonb_populate_recordset(NULL::{table.name}, CAST(%s AS JSONB)) AS r"
            " WHERE t.id = r.id"
        ),
    )


_UPDATES: dict[tuple[str, tuple[str, ...]], Sql] = {}


def _default(column: sa.Column[Any]) -> Any:
    """The value an insert without this column writes: the model's `default=`, else NULL.

    Refuses what one shared value cannot stand for: a per-row callable default (a fresh uuid)
    or a default only the database knows (`server_default=` alone).
    """
    default = column.default
    if default is None:
        if column.server_default is not None:
            raise ValueError(f"{column}: give it a Python default= to insert through Insert")
        return None
    if getattr(default, "is_scalar", False):
        return default.arg
    value = default.arg(None)  # `default=dict` and the like, wrapped to take a context
    if value not in ({}, []):
        raise ValueError(f"{column}: a per-row default; set the column in every row instead")
    return value


def sqlite_datetime(value: datetime) -> str:
    """How SQLAlchemy's SQLite DateTime stores a `UTCDateTime`: naive UTC with microseconds."""
    if value.tzinfo is UTC:  # what Vigil's own times are: the offset is cut rather than converted
        return value.isoformat(" ", "microseconds")[:-6]
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


def parse_sqlite_datetime(value: str | datetime | None) -> datetime | None:
    """A datetime column as the SQLite driver returns it (text), as an aware UTC datetime."""
    if value is None or isinstance(value, datetime):
        return value
    try:
        # Parsed with its offset: `replace(tzinfo=)` afterwards cost eight times the parse.
        return datetime.fromisoformat(value + "+00:00")
    except ValueError:  # text that carries an offset of its own
        return datetime.fromisoformat(value).astimezone(UTC)


def _memo(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`convert` remembered per value, in C for a value seen before; None stays None."""
    return Memo(convert, fixed={None: None}).__getitem__


def postgres_copy_datetime(value: datetime) -> str:
    """A moment as COPY's text for a `timestamptz` column: ISO 8601 with its offset, in UTC.

    psycopg formats an aware datetime for COPY at about 1.1 µs, and a row of alerts has four:
    written as text here, through the memo (a batch's alerts share their moments), a row of
    1,600 alerts took 1.2 µs to format instead of 5.5.
    """
    return ensure_utc(value).isoformat()


# One memo for every statement's and row's moments: a commit binds `now` into several
# statements and rows, and isoformat costs ~2 µs each time.
_sqlite_moment = _memo(sqlite_datetime)
_postgres_copy_moment = _memo(postgres_copy_datetime)


class Insert:
    """`INSERT INTO table (every column) VALUES (…)` with each column's value conversion.

    A row gives the columns it sets; the others take the column's Python-side default (as an
    ORM or Core insert would) or NULL. `with_id=False` leaves the id to the database, for rows
    whose ids the caller never needs.
    """

    def __init__(
        self,
        table: sa.Table,
        *,
        with_id: bool = True,
        order: Sequence[str] | None = None,
        json_text: bool = False,
    ) -> None:
        self.table = table.name
        # Columns the database computes (`sa.Computed`) cannot be written.
        columns = [c for c in table.columns if (with_id or c.name != "id") and c.computed is None]
        if order is not None:
            # `Driver.insert_values` takes rows as tuples in this order: every writable column,
            # each once, so a column added to the table is an error here, not a shifted value.
            by_name = {column.name: column for column in columns}
            if sorted(order) != sorted(by_name):
                raise ValueError(f"{table.name}: order must name {sorted(by_name)} once each")
            columns = [by_name[name] for name in order]
        self.columns = [column.name for column in columns]
        self.columns_with_defaults = [(column.name, _default(column)) for column in columns]
        # (column index, conversion) for the columns whose values need one, per database.
        sqlite_converters: _Converters = []
        postgres_converters: _Converters = []
        for index, column in enumerate(columns):
            if isinstance(column.type, UTCDateTime):
                sqlite_converters.append((index, _sqlite_moment))
                postgres_converters.append((index, _postgres_copy_moment))
            elif isinstance(column.type, sa.JSON):
                sqlite_converters.append((index, _json_text))
                postgres_converters.append((index, _json_text))
            # Both drivers bind a StrEnum member as its text, a bool as a boolean, None as NULL
            # (sqlite3 through the adapters `vigil.storage.db.register_sqlite_adapters` gives).
        self.sqlite_row = _row_values(self.columns_with_defaults, sqlite_converters)
        self.postgres_row = _row_values(self.columns_with_defaults, postgres_converters)
        # `json_text`: on SQLite, a `str` in a JSON column of `insert_values`' rows is the JSON
        # text itself, made elsewhere (the ingest writer's alerts: by the HTTP processes).
        json_columns = frozenset(
            index for index, column in enumerate(columns) if isinstance(column.type, sa.JSON)
        )
        self.sqlite_values = _converted_values(
            len(columns), sqlite_converters, json_columns if json_text else frozenset()
        )
        self._sqlite_converters = sqlite_converters
        self._as_text = json_columns if json_text else frozenset()
        self._head_values: dict[int, Callable[[Sequence[Any]], list[Any]]] = {}
        self.postgres_values = _converted_values(len(columns), postgres_converters)
        names = ", ".join(self.columns)
        self.sqlite = (
            f"INSERT INTO {self.table} ({names}) VALUES ({', '.join('?' for _ in self.columns)})"
        )
        self.postgres_copy = f"COPY {self.table} ({names}) FROM STDIN"
        self._names = names
        # The rows as one JSON document of objects keyed by column (`Driver.insert`). An
        # `INSERT … SELECT FROM unnest(column arrays)` was slower: psycopg dumps arrays in Python.
        self.postgres_from_document = (
            f"INSERT INTO {self.table} ({names}) SELECT {names}"
            f" FROM jsonb_populate_recordset(NULL::{self.table}, CAST(%s AS JSONB))"
        )

    def sqlite_with_tail(
        self, tail: Sequence[Any]
    ) -> tuple[str, Callable[[Sequence[Any]], list[Any]]]:
        """The SQLite statement for rows whose last columns all hold the values `tail`: it spells
        them as literals and binds only the head of each row, with the head's conversions.

        Binding a value costs the sqlite3 module about 0.15 µs: a storm's new alerts share
        seven of their 21 columns (service, status, first and last seen, ...), and binding them
        for every row was about 8% of the ingest writer's instructions per alert.
        """
        width = len(self.columns) - len(tail)
        convert_at = dict(self._sqlite_converters)
        literals = [
            _sqlite_literal(convert(value) if (convert := convert_at.get(index)) else value)
            for index, value in enumerate(tail, start=width)
        ]
        statement = (
            f"INSERT INTO {self.table} ({self._names}) VALUES"
            f" ({', '.join(['?'] * width + literals)})"
        )
        head_values = self._head_values.get(width)
        if head_values is None:
            converters = [(at, convert) for at, convert in self._sqlite_converters if at < width]
            head_values = self._head_values[width] = _converted_values(
                width, converters, self._as_text
            )
        return statement, head_values
