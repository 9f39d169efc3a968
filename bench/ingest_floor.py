"""What SQLite alone costs per alert: the floor under the ingest writer's commit time.

Inserts rows shaped like a Prometheus batch's alerts (already converted to what sqlite3 binds,
so no Vigil code runs) into the `alerts` table of a database migrated by `vigil db upgrade`,
with the ingest writer's pragmas: write-ahead log, `synchronous=NORMAL`, a 32 MiB page cache,
commits of `--per-commit` rows, checkpoints between commits (off the clock, as `vigil serve`
checkpoints in another process). It times the same inserts three ways:

- "one unique index": with the unique dedup index SQLite had until migration 0012
  (`uq_alerts_service_dedup_key_open`), which each new alert's random key hits at a page of its
  own;
- "two tiers": as migrated, keys merged into `alert_keys` in one sorted insert every
  `--merge-every` rows (`vigil.alerts.dedup`; the merges are on the clock);
- "without any index".

Set beside `ingest.py`'s CPU per alert of the writer process and of Alertmanager, it tells how
much of the writer's time any change to Vigil's own code can still win (docs/PERFORMANCE.md,
sessions 17 and 19).

    .venv/bin/python bench/ingest_floor.py
    .venv/bin/python bench/ingest_floor.py --stored 200000 --per-commit 770 --timed 160
    .venv/bin/python bench/ingest_floor.py --stored 200000 --per-commit 700 --page-size 65536
    .venv/bin/python bench/ingest_floor.py --merge-growth 1600000   # one merge, and in slices
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from ingest_cost import VIGIL
from vigil.cli.ingest_writer import SQLITE_CACHE_MIB as INGEST_WRITER_SQLITE_CACHE_MIB

COLUMNS = (
    "id, service_id, incident_id, dedup_key, status, summary, severity, source, integration_type,"
    " labels, details, links, group_key, starts_at, first_seen_at, last_seen_at, expires_at,"
    " event_count, acknowledged_at, resolved_at, raw_payload"
)
INSERT = f"INSERT INTO alerts ({COLUMNS}) VALUES ({', '.join('?' * 21)})"
ONE_INDEX = (
    "CREATE UNIQUE INDEX uq_alerts_service_dedup_key_open"
    " ON alerts (service_id, dedup_key, open_marker)"
)
MERGE = (
    "INSERT INTO alert_keys (service_id, dedup_key, alert_id) SELECT service_id, dedup_key, id"
    " FROM alerts WHERE id > ? ORDER BY service_id, dedup_key, id"
)
VARIANTS = ("one unique index", "two tiers", "without any index")


def migrated_database(directory: str) -> Path:
    env = {**os.environ, "VIGIL_DATA_DIR": directory}
    env.pop("VIGIL_DATABASE_URL", None)
    subprocess.run([str(VIGIL), "db", "upgrade"], check=True, capture_output=True, env=env)
    return Path(directory) / "vigil.db"


def connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        f"cache_size={-INGEST_WRITER_SQLITE_CACHE_MIB * 1024}",  # KiB when negative
        "wal_autocheckpoint=0",
        "foreign_keys=OFF",  # alerts only reference incidents; this measures the table alone
    ):
        connection.execute(f"PRAGMA {pragma}")
    return connection


def alert_rows(first_id: int, count: int) -> list[tuple[object, ...]]:
    """Rows as the writer binds them: ids, a random 16-hex dedup key (a label fingerprint),
    JSON text, and SQLite's datetime text."""
    at = "2026-12-04 14:40:00.000000"
    rows = []
    for alert_id in range(first_id, first_id + count):
        labels = {
            "alertname": f"BenchAlert{alert_id % 10}",
            "instance": f"host-{alert_id:016x}:9100",
            "job": "node",
            "severity": "critical",
        }
        annotations = {"summary": "Disk full", "description": "from bench"}
        raw = {"labels": labels, "annotations": annotations, "startsAt": "2026-12-04T14:40:00Z"}
        rows.append(
            (
                alert_id,
                1,
                1,
                f"{random.getrandbits(64):016x}",
                "firing",
                "Disk full",
                "SEV1",
                f"host-{alert_id:016x}:9100",
                "prometheus",
                orjson.dumps(labels).decode(),
                orjson.dumps({"annotations": annotations}).decode(),
                '[{"href":"http://prometheus:9090/graph?g0.expr=up","text":"Source"}]',
                f"alertname=BenchAlert{alert_id % 10}",
                at,
                at,
                at,
                "2026-12-04 14:45:00.000000",
                1,
                None,
                None,
                orjson.dumps(raw).decode(),
            )
        )
    return rows


def set_page_size(path: Path, page_size: int) -> None:
    """Rebuild the migrated database with another page size (only outside write-ahead mode)."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=DELETE")
    connection.execute(f"PRAGMA page_size={page_size}")
    connection.execute("VACUUM")
    connection.close()


def measure(
    path: Path, variant: str, *, stored: int, per_commit: int, timed: int, merge_every: int
) -> tuple[float, float]:
    """Microseconds per row of the timed commits, after `stored` rows went in untimed, and the
    write-ahead log's frames (pages written) per row."""
    connection = connect(path)
    if variant == VARIANTS[0]:
        connection.execute(ONE_INDEX)
    if variant == VARIANTS[2]:
        names = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'alerts'"
            " AND sql IS NOT NULL"
        ).fetchall()
        for (name,) in names:
            connection.execute(f"DROP INDEX {name}")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    untimed = stored // per_commit
    next_id = 1
    merged_upto = 0
    seconds = 0.0
    frames = 0
    for commit in range(untimed + timed):
        stored_so_far = next_id - 1
        rows = alert_rows(next_id, per_commit)
        next_id += per_commit
        started = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        if variant == VARIANTS[1] and stored_so_far - merged_upto >= merge_every:
            connection.execute(MERGE, (merged_upto,))  # as a pass does, before its own rows
            merged_upto = stored_so_far
        connection.executemany(INSERT, rows)
        connection.execute("COMMIT")
        if commit >= untimed:
            seconds += time.perf_counter() - started
        _busy, logged, _copied = connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        if commit >= untimed:
            frames += logged
    connection.close()
    rows_timed = timed * per_commit
    return seconds / rows_timed * 1e6, frames / rows_timed


def merge_growth(path: Path, *, total: int, batch: int, slices: int) -> None:
    """Time merges as `alert_keys` grows: after each `batch` rows inserted, their keys merged in
    one statement and, on a copy of the same keys, in `slices` sorted slices (the slowest one is
    what a pass waits for)."""
    connection = connect(path)
    connection.execute(
        "CREATE TABLE keys_sliced (service_id INTEGER NOT NULL, dedup_key TEXT NOT NULL,"
        " alert_id INTEGER NOT NULL, PRIMARY KEY (service_id, dedup_key, alert_id)) WITHOUT ROWID"
    )
    print(f"{'keys merged':>12} {'one statement':>14} {'slowest of ' + str(slices):>16}")
    next_id = 1
    for _round in range(total // batch):
        rows = alert_rows(next_id, batch)
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(INSERT, rows)
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(RESTART)")
        started = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(MERGE, (next_id - 1,))
        connection.execute("COMMIT")
        whole = time.perf_counter() - started
        connection.execute("PRAGMA wal_checkpoint(RESTART)")
        keys = sorted((row[1], row[3], row[0]) for row in rows)
        step = -(-len(keys) // slices)
        slowest = 0.0
        for start in range(0, len(keys), step):
            started = time.perf_counter()
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(
                "INSERT INTO keys_sliced VALUES (?, ?, ?)", keys[start : start + step]
            )
            connection.execute("COMMIT")
            slowest = max(slowest, time.perf_counter() - started)
            connection.execute("PRAGMA wal_checkpoint(RESTART)")
        next_id += batch
        print(f"{next_id - 1 - batch:>12,} {whole * 1000:>11.1f} ms {slowest * 1000:>13.1f} ms")
    connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=120_000, help="rows before the timed ones")
    parser.add_argument("--per-commit", type=int, default=600, help="rows per commit")
    parser.add_argument("--timed", type=int, default=50, help="timed commits")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--merge-every", type=int, default=40_000, help="two tiers: rows between merges"
    )
    parser.add_argument(
        "--page-size", type=int, default=4096, help="bytes per page (Vigil's databases: 4096)"
    )
    parser.add_argument(
        "--merge-growth",
        type=int,
        default=0,
        help="instead: time merges of --merge-every keys as alert_keys grows to this many",
    )
    parser.add_argument("--slices", type=int, default=16, help="--merge-growth: sorted slices")
    args = parser.parse_args()
    if args.merge_growth:
        with tempfile.TemporaryDirectory(prefix="vigil-floor-") as directory:
            merge_growth(
                migrated_database(directory),
                total=args.merge_growth,
                batch=args.merge_every,
                slices=args.slices,
            )
        return 0
    print(
        f"SQLite {sqlite3.sqlite_version}; {args.per_commit} rows per commit, timed after "
        f"{args.stored:,} rows; pages of {args.page_size:,} bytes; two tiers merge every "
        f"{args.merge_every:,} rows"
    )
    print(
        f"{'round':>5} "
        + " ".join(f"{name:>24}" for name in VARIANTS)
        + "   (µs per row / log frames per row)"
    )
    for round_ in range(1, args.rounds + 1):
        figures = []
        for variant in VARIANTS:
            with tempfile.TemporaryDirectory(prefix="vigil-floor-") as directory:
                path = migrated_database(directory)
                if args.page_size != 4096:
                    set_page_size(path, args.page_size)
                figures.append(
                    measure(
                        path,
                        variant,
                        stored=args.stored,
                        per_commit=args.per_commit,
                        timed=args.timed,
                        merge_every=args.merge_every,
                    )
                )
        cells = " ".join(f"{f'{micros:.1f} / {frames:.2f}':>24}" for micros, frames in figures)
        print(f"{round_:>5} {cells}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
