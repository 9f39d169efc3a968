"""SQLite has one writer at a time: Vigil's writers queue for it in arrival order within a
process, across processes on a file lock, and checkpoints never run inside a commit."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from vigil.storage import db as storage_db
from vigil.storage.db import Checkpointer, Database, FairLock


def test_writers_of_one_process_get_the_lock_in_the_order_they_asked() -> None:
    lock = FairLock()
    order: list[int] = []
    lock.__enter__()
    threads = []
    for n in range(5):
        thread = threading.Thread(target=lambda n=n: _take(lock, order, n))
        thread.start()
        threads.append(thread)
        time.sleep(0.05)  # each thread is queued before the next one starts
    lock.__exit__()
    for thread in threads:
        thread.join(timeout=5)
    assert order == [0, 1, 2, 3, 4]


def _take(lock: FairLock, order: list[int], n: int) -> None:
    with lock:
        order.append(n)


def test_the_lock_is_reentrant_for_its_holder() -> None:
    lock = FairLock()
    with lock, lock:
        pass
    with lock:  # released: it can be taken again
        pass


def test_another_process_waits_on_the_file_lock_until_the_writer_is_done(tmp_path: Path) -> None:
    path = tmp_path / "vigil.db-writer.lock"
    lock = FairLock(str(path))
    # The other process says when it starts waiting and when it got the lock (wall clock), so
    # the test checks the order of events, not how fast a loaded machine starts Python.
    script = (
        "import sys, time; from vigil.storage.db import FairLock\n"
        f"lock = FairLock({str(path)!r}); print('waiting', flush=True)\n"
        "with lock: print(time.time(), flush=True)\n"
    )
    with lock:
        other = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert other.stdout is not None
        assert other.stdout.readline().strip() == "waiting"
        time.sleep(0.3)
        assert other.poll() is None  # still waiting for us
        released_at = time.time()
    out, _ = other.communicate(timeout=30)
    assert float(out) >= released_at


def test_committed_writes_reach_the_database_file_without_closing_connections(
    tmp_path: Path,
) -> None:
    """No commit checkpoints (it would hold every writer up); a thread copies the log over."""
    file = tmp_path / "vigil.db"
    db = Database.from_url(f"sqlite:///{file}")
    try:
        with db.unit_of_work() as session:
            assert session.execute(sa.text("PRAGMA wal_autocheckpoint")).scalar() == 0
            session.execute(sa.text("CREATE TABLE t (n INTEGER)"))
            session.execute(sa.text("INSERT INTO t VALUES (1)"))
        in_log_only = file.stat().st_size

        deadline = time.monotonic() + 10
        while file.stat().st_size <= in_log_only:
            assert time.monotonic() < deadline, "the write-ahead log was never checkpointed"
            time.sleep(0.1)
    finally:
        db.dispose()


def test_the_write_ahead_log_starts_over_under_a_constant_stream_of_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An alert storm commits without pause; the log must still restart instead of growing
    until the disk is full (and every read searches it)."""
    monkeypatch.setattr(Checkpointer, "EVERY_SECONDS", 0.02)
    monkeypatch.setattr(Checkpointer, "RESTART_FRAMES", 200)
    file = tmp_path / "vigil.db"
    log_file = tmp_path / "vigil.db-wal"
    db = Database.from_url(f"sqlite:///{file}")
    payload = "x" * 3000  # about a page per commit
    try:
        with db.unit_of_work() as session:
            session.execute(sa.text("CREATE TABLE t (n INTEGER, body TEXT)"))
        written = 0
        largest_log = 0
        restarts: set[int] = set()
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            with db.unit_of_work() as session:
                session.execute(
                    sa.text("INSERT INTO t VALUES (:n, :b)"), {"n": written, "b": payload}
                )
            written += 1
            if written % 100 == 0:
                largest_log = max(largest_log, log_file.stat().st_size)
                restarts.add(_log_restarts(log_file))
        assert written > 2000, "too few commits to tell"
        # Thousands of pages were written; the log started over again and again (its header
        # counts restarts), and its file held a fraction of them, where it used to hold every
        # one. How often it restarts depends on how the checkpointer's thread is scheduled, so
        # the bounds leave room for a busy machine (one CI run saw the file reach 28 MiB).
        assert written * 4096 > 8 * 1024 * 1024
        assert len(restarts) >= 3
        assert largest_log < written * 4096 / 2
        with db.unit_of_work() as session:
            assert session.execute(sa.text("SELECT count(*) FROM t")).scalar() == written
    finally:
        db.dispose()


def _log_restarts(log_file: Path) -> int:
    """The write-ahead log header's checkpoint sequence number: SQLite adds one per restart."""
    with log_file.open("rb") as log:
        header = log.read(16)
    return int.from_bytes(header[12:16], "big") if len(header) == 16 else 0


def test_a_write_ahead_log_file_grown_by_a_storm_is_given_back_once_writes_are_light(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a storm the log file keeps its size from restart to restart (growing it again each
    second cost the ingest writer a sixth of its time); afterwards the disk gets it back."""
    monkeypatch.setattr(Checkpointer, "EVERY_SECONDS", 0.05)
    monkeypatch.setattr(storage_db, "SQLITE_WAL_KEPT_SIZE", 256 * 1024)
    file = tmp_path / "vigil.db"
    log_file = tmp_path / "vigil.db-wal"
    db = Database.from_url(f"sqlite:///{file}")
    try:
        with db.unit_of_work() as session:
            session.execute(sa.text("CREATE TABLE t (n INTEGER, body TEXT)"))
        with db.unit_of_work() as session:  # one commit of about 300 pages: a 1.2 MiB log
            session.execute(
                sa.text("INSERT INTO t VALUES (:n, :b)"),
                [{"n": n, "b": "x" * 3000} for n in range(300)],
            )
        assert log_file.stat().st_size > 1024 * 1024
        deadline = time.monotonic() + 10
        while log_file.exists() and log_file.stat().st_size > 0:
            assert time.monotonic() < deadline, "the log file was never truncated"
            time.sleep(0.05)
        with db.unit_of_work() as session:
            assert session.execute(sa.text("SELECT count(*) FROM t")).scalar() == 300
    finally:
        db.dispose()


def test_the_ingest_writer_can_ask_for_a_larger_page_cache(tmp_path: Path) -> None:
    default = Database.from_url(f"sqlite:///{tmp_path / 'a.db'}")
    larger = Database.from_url(f"sqlite:///{tmp_path / 'b.db'}", sqlite_cache_mib=32)
    try:
        for db, expected in ((default, -2000), (larger, -32 * 1024)):
            with db.read_session() as session:
                assert session.execute(sa.text("PRAGMA cache_size")).scalar() == expected
    finally:
        default.dispose()
        larger.dispose()


def test_one_checkpointer_at_a_time_checkpoints_a_database_and_another_takes_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`vigil serve`, its writer and its worker each have a checkpointer for one file; SQLite
    runs one checkpoint at a time, and a restart that waited for another process's pass held
    the write lock meanwhile. So one leads, and another leads once it stops."""
    monkeypatch.setattr(Checkpointer, "EVERY_SECONDS", 0.02)
    file = tmp_path / "vigil.db"
    first = Database.from_url(f"sqlite:///{file}")
    second = Database.from_url(f"sqlite:///{file}")
    try:
        with first.unit_of_work() as session:
            session.execute(sa.text("CREATE TABLE t (n INTEGER)"))
        for db in (first, second):  # a write starts each one's checkpointer
            with db.unit_of_work() as session:
                session.execute(sa.text("INSERT INTO t VALUES (1)"))
        checkpointers = [first._checkpointer, second._checkpointer]
        assert all(checkpointers)
        time.sleep(0.3)  # many passes each
        leading = [c for c in checkpointers if c is not None and c.leading]
        assert len(leading) == 1
        leader, other = (first, second) if leading[0] is first._checkpointer else (second, first)
        leader.dispose()
        deadline = time.monotonic() + 5
        while not (other._checkpointer is not None and other._checkpointer.leading):
            assert time.monotonic() < deadline, "no checkpointer took over"
            time.sleep(0.02)
    finally:
        first.dispose()
        second.dispose()
