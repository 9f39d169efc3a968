"""Engines and sessions for SQLite (WAL, busy timeout, explicit BEGIN) and PostgreSQL."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from vigil.storage.driver import (
    DEFERRED_TRANSACTION,
    PINNED_CONNECTION,
    DeferredTransaction,
    commit_deferred,
    send_deferred,
)

# Execution option that makes a SQLite transaction take the write lock at BEGIN. Deferred
# transactions that later write can fail at once with "database is locked" instead of waiting.
SQLITE_IMMEDIATE = "vigil_sqlite_immediate"
log = logging.getLogger("vigil.storage")
PG_LOCK_TIMEOUT_MS = 10_000
SQLITE_BUSY_TIMEOUT_MS = 30_000
# psycopg prepares a statement on its fifth run, and PostgreSQL then keeps one generic plan for
# it. Planned while the alerts table was still small, the dedup lookup (`dedup_key = ANY(...)`)
# kept a plan that scans every firing alert of the service: 30 ms a lookup, and PostgreSQL
# ingest fell to 3,000 alerts/s, until an ANALYZE that a storm does not wait for. Vigil's
# statements are short and plan in microseconds, so each run gets a plan for its own values.
_PG_PLAN_OPTION = "-c plan_cache_mode=force_custom_plan"
# The ingest writer's connections keep one generic plan per prepared statement instead:
# planning was a third of an ingest commit's time in the server. Forced, because PostgreSQL's
# own choice (`auto`) compares the generic plan's estimate with the custom plans' and kept
# planning the key lookups at every run: a list parameter is estimated at 10 keys, the
# commit's own list at its length. What made generic plans dangerous is taken away: with
# sequential scans, hash joins and merge joins disabled, a table is read through an index
# whenever its query allows, so a plan made while the tables were empty stays a lookup as they
# grow (foreign-key checks included). JIT is off: those settings add a huge cost to any plan
# they cannot avoid, and JIT compiled a scan of a table of three rows for 18 ms.
# `tests/integration/ingest/test_generic_plans.py` plans every statement of the ingest commits
# this way on tables analyzed while empty.
PG_INGEST_WRITER_PLANNING = (
    "-c plan_cache_mode=force_generic_plan -c enable_seqscan=off -c enable_hashjoin=off"
    " -c enable_mergejoin=off -c jit=off"
)
# After the write-ahead log restarts, a file that grew past this is cut back to it. An alert storm
# writes about 200 MiB of log a second on the 2-core machine; cut back to 64 MiB at each restart,
# the file was grown again every second, and growing a file (fresh pages zeroed by the kernel,
# blocks reserved) took a sixth of the ingest writer's time (docs/PERFORMANCE.md, session 19).
SQLITE_WAL_SIZE_LIMIT = 1024 * 1024 * 1024
# Once writes are light again, the checkpointer gives a log file larger than this back to the disk.
SQLITE_WAL_KEPT_SIZE = 64 * 1024 * 1024


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    echo: bool = False,
    sqlite_cache_mib: int | None = None,
    ingest_writer: bool = False,
) -> sa.Engine:
    """Create an engine tuned for Vigil; the same code then runs on either database.

    `sqlite_cache_mib` sizes each SQLite connection's page cache (SQLite's default is 2 MiB).
    The ingest writer asks for more: an alert storm inserts at random places in the dedup-key
    indexes, and with a database of a million alerts most of those pages fell out of 2 MiB.
    `ingest_writer` plans as PG_INGEST_WRITER_PLANNING says, on PostgreSQL.
    """
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            echo=echo,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=pool_size,
            poolclass=sa.pool.QueuePool,
        )
        _configure_sqlite(engine, cache_mib=sqlite_cache_mib)
        return engine
    engine = sa.create_engine(
        url,
        echo=echo,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        pool_size=pool_size,
        max_overflow=pool_size,
        # No pre-ping: it costs a round trip per request; a dropped connection surfaces as an
        # OperationalError (503, so senders retry) and the pool replaces it.
        pool_recycle=1800,
        # A request stuck behind a lock for this long answers 503 so its sender retries.
        connect_args={
            "options": f"-c lock_timeout={PG_LOCK_TIMEOUT_MS} "
            + (PG_INGEST_WRITER_PLANNING if ingest_writer else _PG_PLAN_OPTION)
        },
    )
    # A statement SQLAlchemy runs inside the ingest writer's transaction sends what the
    # transaction deferred first (`vigil.storage.driver.DeferredTransaction`).
    event.listen(engine, "before_cursor_execute", _send_deferred_first)
    return engine


def _send_deferred_first(connection: sa.Connection, *_args: Any) -> None:
    send_deferred(connection)


def register_sqlite_adapters() -> None:
    """Give sqlite3 an adapter for every type Vigil binds besides int, float and str.

    For any other value, None included, sqlite3 looks up an adapter, and when there is none it
    asks its protocol type for `__adapt__` and the value for `__conform__`: each miss raises and
    formats an AttributeError. About fifteen such values per alert (mostly NULL columns) were a
    tenth of the ingest writer's instructions. A registered adapter is one dictionary lookup and
    binds what sqlite3 would have bound anyway: NULL, 0 / 1, an enum member's text.
    """
    # `{}.get` answers None for None, as `lambda value: value` would, but without running a
    # Python frame for each of the NULLs in every row.
    sqlite3.register_adapter(type(None), _ALWAYS_NONE)
    sqlite3.register_adapter(bool, int)
    pending: list[type[Enum]] = [StrEnum]
    while pending:
        enum_type = pending.pop()
        pending.extend(enum_type.__subclasses__())
        if enum_type is not StrEnum and enum_type.__module__.startswith("vigil."):
            sqlite3.register_adapter(enum_type, str)


_ALWAYS_NONE: Callable[[Any], None] = {}.get


def _configure_sqlite(engine: sa.Engine, *, cache_mib: int | None) -> None:
    register_sqlite_adapters()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (savepoints need it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Checkpoints run on a thread of their own (`Checkpointer`), not inside a commit that
        # holds the write lock: an automatic one stalled every writer for tens of ms.
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.execute(f"PRAGMA journal_size_limit={SQLITE_WAL_SIZE_LIMIT}")
        if cache_mib:
            cursor.execute(f"PRAGMA cache_size=-{cache_mib * 1024}")  # negative: KiB
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        statement = (
            "BEGIN IMMEDIATE" if conn.get_execution_options().get(SQLITE_IMMEDIATE) else "BEGIN"
        )
        # Straight on the driver: through `exec_driver_sql`, SQLAlchemy's execution context
        # made this one statement cost more than the commit's own SQL for a single alert.
        try:
            conn.connection.dbapi_connection.execute(statement)  # type: ignore[union-attr]
        except sqlite3.Error as exc:  # "database is locked": as SQLAlchemy would raise it
            raise sa.exc.DBAPIError.instance(
                statement, None, exc, sqlite3.Error, dialect=conn.dialect
            ) from exc


def _sqlite_file(engine: sa.Engine) -> str | None:
    """The path of a SQLite database's file (None in memory, or given as a `file:` URI)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return None if database.startswith("file:") else database


def _lock_file(engine: sa.Engine, purpose: str) -> str | None:
    """A lock file beside a SQLite database: `writer` serialises its writers across processes,
    `checkpoint` makes one `Checkpointer` at a time the one that checkpoints."""
    database = _sqlite_file(engine)
    return None if database is None else f"{database}-{purpose}.lock"


def is_postgres(bind: sa.Engine | sa.Connection | Session) -> bool:
    if isinstance(bind, Session):
        return bind.get_bind().dialect.name == "postgresql"
    return bind.dialect.name == "postgresql"


class FairLock:
    """A re-entrant lock granted in arrival order, optionally held across processes too.

    `threading.RLock` lets the thread that just released it take it straight back, so a busy
    ingest writer could starve the engine's short transactions (pages waited hundreds of ms for
    their send to be recorded). Tickets make every writer wait its turn.

    With `path`, the outermost holder also takes an exclusive `flock` on that file: SQLite's own
    busy handler polls with sleeps of up to 100 ms, so `vigil serve` and its worker process
    contending for the write lock saw one-second stalls; the kernel wakes a `flock` waiter the
    moment the holder lets go.
    """

    def __init__(self, path: str | None = None) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600) if path else None
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._next_ticket = 0
        self._serving = 0

    def __enter__(self) -> None:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return
            ticket = self._next_ticket
            self._next_ticket += 1
            while self._owner is not None or ticket != self._serving:
                self._cond.wait()
            self._owner = me
            self._depth = 1
            self._serving += 1
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *_exc: object) -> None:
        with self._cond:
            self._depth -= 1
            if self._depth == 0:
                if self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
                self._owner = None
                self._cond.notify_all()


class Checkpointer:
    """Copies SQLite's write-ahead log into the database file every second, off the commit path,
    and keeps the log from growing without end under constant writes.

    A PASSIVE checkpoint never waits for readers or writers, so paging never waits for it. But
    SQLite only starts the log over once a checkpoint has copied all of it, and under a steady
    stream of commits (an alert storm) the log always has a newer tail: it grew to 7 GB in 50 s
    of batched ingest, and every page read had to search an ever longer log index, so ingest
    slowed to half its speed. So when the log is long after a PASSIVE pass, the checkpointer
    takes the write lock, copies the little that arrived meanwhile (RESTART) and lets the next
    writer start the log from the beginning. Writers wait for that short copy; readers never
    do, and a reader that holds an old snapshot only postpones the restart to the next second.
    SQLite itself checkpoints when the last connection closes, which covers short commands.

    The log file keeps its size from restart to restart (up to `SQLITE_WAL_SIZE_LIMIT`), so a
    storm overwrites it instead of growing it again every second. When a pass finds the log
    light and fully copied but its file larger than `SQLITE_WAL_KEPT_SIZE`, the storm is over:
    the checkpointer truncates the file, under the write lock as for a restart.

    Every process that writes has one (`vigil serve`, its writer and its worker: three or four
    for one file), but only one at a time checkpoints: the first to take an exclusive `flock`
    on `<database>-checkpoint.lock` keeps it while it runs, and the others look again each
    second, so one takes over when it stops. SQLite runs one checkpoint at a time: when three
    took turns, a restart waited, holding the write lock, for another process's pass to finish
    copying (up to 100 ms), and a pass that found another one running read "-1 frames, -1
    copied" as a light log fully copied and truncated the file in the middle of a storm. At
    6,500 single alerts a second that stalled commits for 20–50 ms a few times a second.
    """

    EVERY_SECONDS = 1.0
    RESTART_FRAMES = 4096  # pages in the log (16 MiB of 4 KiB pages) that call for a restart
    RESTART_BUSY_MS = 100  # how long the restart waits for readers, holding the write lock

    def __init__(
        self, engine: sa.Engine, write_lock: contextlib.AbstractContextManager[Any]
    ) -> None:
        self.engine = engine
        self.write_lock = write_lock
        path = _lock_file(engine, "checkpoint")
        self._lead_fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600) if path else None
        self.leading = self._lead_fd is None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vigil-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.EVERY_SECONDS):
            try:
                self.checkpoint()
            except Exception:  # a missed checkpoint only lets the log grow until the next one
                log.warning("WAL checkpoint failed", exc_info=True)

    def _lead(self) -> bool:
        """Whether this checkpointer is the one that checkpoints (taking the lead if free)."""
        if not self.leading and self._lead_fd is not None:
            try:
                fcntl.flock(self._lead_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            self.leading = True
        return self.leading

    def checkpoint(self) -> None:
        """One pass: copy what it can without waiting, then restart the log if it is long."""
        if not self._lead():
            return
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            busy, frames, copied = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if busy or frames < 0:  # another checkpoint (SQLite's own, at a close) is running
                return
            if frames < self.RESTART_FRAMES:
                if frames == copied and self._log_file_size() > SQLITE_WAL_KEPT_SIZE:
                    self._under_write_lock(cursor, "TRUNCATE")
                return
            # A second pass copies what arrived during the first, so that what is left to copy
            # while writers wait is a fraction of a second's commits.
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self._under_write_lock(cursor, "RESTART")
        finally:
            raw.close()

    def _under_write_lock(self, cursor: Any, mode: str) -> None:
        """A checkpoint that needs writers to wait: RESTART or TRUNCATE."""
        with self.write_lock:
            cursor.execute(f"PRAGMA busy_timeout={self.RESTART_BUSY_MS}")
            try:
                cursor.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
            finally:
                cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")

    def _log_file_size(self) -> int:
        database = _sqlite_file(self.engine)
        if database is None:
            return 0
        try:
            return Path(f"{database}-wal").stat().st_size
        except FileNotFoundError:
            return 0

    def stop(self) -> None:
        """Stop, and hand the lead to another process's checkpointer."""
        self._stop.set()
        self._thread.join(timeout=5)
        if self._lead_fd is not None:
            os.close(self._lead_fd)  # releases the flock
            self._lead_fd = None
            self.leading = False


class Database:
    """One engine plus the two kinds of session Vigil uses: reads, and writes.

    Tests pass `bind=` a connection inside an outer transaction: every session then works in a
    savepoint of it, and the test rolls everything back at the end.
    """

    def __init__(self, engine: sa.Engine, *, bind: sa.Connection | None = None) -> None:
        self.engine = engine
        # One connection shared by threads (tests) must be used by one thread at a time, too.
        serialise = engine.dialect.name == "sqlite" or bind is not None
        self._lock_path = _lock_file(engine, "writer") if bind is None else None
        self._checkpointer: Checkpointer | None = None
        self._autocommit: sa.Engine | None = None
        self._write_lock: FairLock | contextlib.nullcontext[None] = (
            FairLock(self._lock_path) if serialise else contextlib.nullcontext()
        )
        self._writer_engine: sa.Engine | None = None
        self._pinned_engine: sa.Engine | None = None  # for pinned connections; not in tests
        self._pinned = threading.local()
        self._pinned_all: list[sa.Connection] = []
        if bind is not None:
            self._read = sessionmaker(
                bind=bind, expire_on_commit=False, join_transaction_mode="create_savepoint"
            )
            self._write = self._read
            return
        self._read = sessionmaker(engine, expire_on_commit=False)
        if engine.dialect.name == "postgresql":
            self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._writer_engine = engine.execution_options(**{SQLITE_IMMEDIATE: True})
        self._write = sessionmaker(self._writer_engine, expire_on_commit=False)
        # PostgreSQL: autocommit at the driver, each transaction a `DeferredTransaction`.
        self._pinned_engine = self._autocommit or self._writer_engine

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        pool_size: int = 10,
        sqlite_cache_mib: int | None = None,
        ingest_writer: bool = False,
    ) -> Database:
        return cls(
            make_engine(
                url,
                pool_size=pool_size,
                sqlite_cache_mib=sqlite_cache_mib,
                ingest_writer=ingest_writer,
            )
        )

    def peek(self, query: sa.Select[Any], **params: Any) -> Any:
        """The first column of the first row of one read, outside any transaction: on
        PostgreSQL a read session would cost a second round trip for its ROLLBACK, and the
        engine asks "when is the next thing due?" on every wake-up."""
        if self._autocommit is None:
            with self.read_session() as session:
                return session.scalar(query, params or None)
        with self._autocommit.connect() as connection:
            return connection.scalar(query, params or None)

    def read_session(self) -> Session:
        return self._read()

    def write_session(self) -> Session:
        return self._write()

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """One write transaction: commit on success, roll back on any error.

        On SQLite, writers of this process queue on a lock before BEGIN IMMEDIATE instead of
        sleeping in SQLite's busy handler, which turned contention into multi-second tails.
        """
        self._ensure_checkpointer()
        with self._write_lock:
            session = self.write_session()
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    @contextmanager
    def pinned_unit_of_work(self) -> Iterator[Session]:
        """`unit_of_work` on a connection the calling thread keeps from one transaction to the
        next: for a thread that does nothing but commit (the ingest writer).

        Checking a connection out of the pool and back in, and the session's transaction
        plumbing around it, were about a quarter of a one-alert commit. Here the connection
        stays open; the session joins its transaction and this method commits it. After any
        error the connection is discarded (it may be broken), and the next transaction opens a
        fresh one.

        On PostgreSQL the transaction is a `DeferredTransaction`: its BEGIN goes out with its
        first statement and the writes left at its end with its COMMIT, two round trips fewer.
        """
        if self._pinned_engine is None:  # tests: every session shares the test's connection
            with self.unit_of_work() as session:
                yield session
            return
        self._ensure_checkpointer()
        with self._write_lock:
            connection = self._pinned_connection(self._pinned_engine)
            deferred = None
            if self._autocommit is not None:
                deferred = connection.info[DEFERRED_TRANSACTION] = DeferredTransaction()
            try:
                with connection.begin():
                    session = Session(
                        bind=connection,
                        expire_on_commit=False,
                        join_transaction_mode="rollback_only",
                        info={PINNED_CONNECTION: connection},
                    )
                    try:
                        yield session
                        session.flush()
                        if deferred is not None:
                            commit_deferred(connection, deferred)
                    finally:
                        session.close()
            except BaseException:
                self._unpin(connection)
                raise
            finally:
                if deferred is not None and not connection.closed:  # else it went with it
                    connection.info.pop(DEFERRED_TRANSACTION, None)

    def _pinned_connection(self, engine: sa.Engine) -> sa.Connection:
        connection: sa.Connection | None = getattr(self._pinned, "connection", None)
        if connection is None or connection.closed:
            connection = engine.connect()
            self._pinned.connection = connection
            self._pinned_all.append(connection)
        return connection

    def _unpin(self, connection: sa.Connection) -> None:
        self._pinned.connection = None
        with contextlib.suppress(ValueError):
            self._pinned_all.remove(connection)
        with contextlib.suppress(Exception):  # it may be broken: close it, not back to the pool
            connection.invalidate()
            connection.close()

    def _ensure_checkpointer(self) -> None:
        if self._lock_path is not None and self._checkpointer is None:
            self._checkpointer = Checkpointer(self.engine, self._write_lock)

    def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        for connection in list(self._pinned_all):
            with contextlib.suppress(Exception):
                connection.close()
        self._pinned_all.clear()
        self.engine.dispose()
