"""How long `vigil db upgrade` takes on a large SQLite database: migration 0012 merges every
existing alert's dedup key into `alert_keys` (docs/PERFORMANCE.md, session 19).

It migrates a fresh database to 0011, inserts `--alerts` resolved alerts with random 16-hex
dedup keys (label fingerprints) in one transaction, and times the upgrade to head.

    .venv/bin/python bench/migration_cost.py                  # a million alerts
    .venv/bin/python bench/migration_cost.py --alerts 5000000
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from vigil.storage import migrate

COLUMNS = (
    "id, service_id, dedup_key, status, summary, severity, source, integration_type, labels,"
    " details, links, starts_at, first_seen_at, last_seen_at, event_count, raw_payload"
)
VALUES = (
    "?, 1, ?, 'resolved', 'Disk full', 'SEV1', '', 'prometheus', '{\"alertname\":\"x\"}', '{}',"
    " '[]', '2026-01-01', '2026-01-01', '2026-01-01', 1, '{\"labels\":{\"alertname\":\"x\"}}'"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vigil-migration-") as directory:
        path = Path(directory) / "vigil.db"
        url = f"sqlite:///{path}"
        migrate.upgrade(url, "0011")
        connection = sqlite3.connect(path)
        with connection:
            connection.executemany(
                f"INSERT INTO alerts ({COLUMNS}) VALUES ({VALUES})",
                ((n, f"{random.getrandbits(64):016x}") for n in range(1, args.alerts + 1)),
            )
        connection.close()
        started = time.perf_counter()
        migrate.upgrade(url)
        seconds = time.perf_counter() - started
    print(f"{args.alerts:,} alerts: upgrade from 0011 to head took {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
