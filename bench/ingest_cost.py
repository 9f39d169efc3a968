"""In-process cost of ingest: parsing a Prometheus body and committing it, with no HTTP.

`ingest.py` measures a running server; this measures the two halves of its work on their own, so
a change to the parser or the writer shows up without the noise of a load generator and a busy
machine. It creates a SQLite (or PostgreSQL) database, a service, and then, per scenario, parses
fresh alerts and commits them through the group-commit writer the way `vigil serve` does.

    .venv/bin/python bench/ingest_cost.py                       # SQLite, every scenario
    .venv/bin/python bench/ingest_cost.py --database-url postgresql+psycopg://postgres@127.0.0.1/x
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
VIGIL = ROOT / ".venv" / "bin" / "vigil"


@dataclass(frozen=True)
class Shape:
    name: str
    grouped: bool
    alerts_per_request: int
    requests_per_commit: int
    repeat: bool = False  # re-send the same open alerts every round (after the warm-up)


SHAPES = [
    Shape("1 alert, 1 request/commit, grouped", True, 1, 1),
    Shape("1 alert, 16 requests/commit, grouped", True, 1, 16),
    Shape("1 alert, 16 requests/commit, ungrouped", False, 1, 16),
    Shape("100 alerts, 1 request/commit, grouped", True, 100, 1),
    Shape("100 alerts, 1 request/commit, ungrouped", False, 100, 1),
    Shape("1 alert, 16 requests/commit, repeats, grouped", True, 1, 16, repeat=True),
    Shape("100 alerts, 1 request/commit, repeats, grouped", True, 100, 1, repeat=True),
]


def body(first: int, count: int) -> bytes:
    return orjson.dumps(
        [
            {
                "labels": {
                    "alertname": f"BenchAlert{(first + i) % 10}",
                    "instance": f"host-{first + i:016x}:9100",
                    "job": "node",
                    "severity": "critical",
                },
                "annotations": {"summary": "Disk full", "description": "from bench"},
                "startsAt": "2026-12-01T00:00:00Z",
                "endsAt": "2036-12-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
            }
            for i in range(count)
        ]
    )


@dataclass(frozen=True)
class Setup:
    """A migrated database and the writer `vigil serve` commits through (in-process benches)."""

    settings: Any
    db: Any
    clock: Any
    writer: Any

    def parse(self, raw: bytes) -> list[Any]:
        """A Prometheus body's events, parsed as the HTTP process parses them."""
        from vigil.integrations.prometheus import parse_postable_alerts

        return parse_postable_alerts(
            orjson.loads(raw),
            now=self.clock.now(),
            body_size=len(raw),
            raw_limit=self.settings.raw_payload_limit_bytes,
            raw_body=raw,
        )

    def service_key(self, name: str, *, grouping_mode: str, integration: str) -> str:
        """A new service's first integration key."""
        from vigil.services import service as services
        from vigil.services.schemas import ServiceCreate

        with self.db.unit_of_work() as session:
            service = services.create_service(
                session,
                data=ServiceCreate(
                    name=name, grouping_mode=grouping_mode, integration_types=[integration]
                ),
                now=self.clock.now(),
            )
            return str(services.list_integration_keys(session, service_id=service.id)[0].key)


def setup(database_url: str | None, prefix: str) -> Setup:
    """Migrate a database (SQLite in a new temporary directory unless `database_url`) and start
    a group-commit writer on it, as `vigil serve`'s ingest writer process does."""
    os.environ["VIGIL_DATA_DIR"] = tempfile.mkdtemp(prefix=prefix)
    if database_url:
        os.environ["VIGIL_DATABASE_URL"] = database_url
    subprocess.run([str(VIGIL), "db", "upgrade"], check=True, capture_output=True)

    from vigil.cli.ingest_writer import SQLITE_CACHE_MIB as INGEST_WRITER_SQLITE_CACHE_MIB
    from vigil.clock import SystemClock
    from vigil.config import get_settings
    from vigil.incidents.comms import command_config
    from vigil.integrations.writer import IngestWriter
    from vigil.notify.service import LinkConfig
    from vigil.storage.db import Database

    settings = get_settings()
    # Planned and cached as `vigil serve`'s ingest writer process (`PG_INGEST_WRITER_PLANNING`).
    db = Database.from_url(
        settings.resolved_database_url,
        sqlite_cache_mib=INGEST_WRITER_SQLITE_CACHE_MIB,
        ingest_writer=True,
    )
    clock = SystemClock()
    config = command_config(
        settings, LinkConfig(base_url=settings.base_url, secret=settings.resolved_secret_key())
    )
    return Setup(settings, db, clock, IngestWriter(db, clock, config, on_paging=lambda: None))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: SQLite in a temporary directory")
    parser.add_argument("--alerts", type=int, default=5000, help="alerts per scenario")
    args = parser.parse_args()
    bench = setup(args.database_url, "vigil-cost-")
    db, writer = bench.db, bench.writer

    from vigil.integrations.writer import IngestJob

    counter = 0
    print(f"{'scenario':48} {'parse us/alert':>15} {'commit us/alert':>16} {'alerts/s':>9}")
    for shape in SHAPES:
        key = bench.service_key(
            f"cost-{shape.name}",
            grouping_mode="labels" if shape.grouped else "none",
            integration="prometheus",
        )
        parse_seconds = commit_seconds = 0.0
        per_commit = shape.alerts_per_request * shape.requests_per_commit
        commits = max(1, args.alerts // per_commit)
        for round_ in range(commits + 5):  # the first five warm up
            raw = [body(counter + r * 1000, shape.alerts_per_request) for r in range(16)]
            if not shape.repeat:
                counter += 100_000
            started = time.perf_counter()
            jobs = []
            for request in raw[: shape.requests_per_commit]:
                jobs.append(IngestJob(key=key, events=bench.parse(request), reply_to=NOWHERE))
            parsed = time.perf_counter()
            writer.commit(jobs)
            done = time.perf_counter()
            if round_ >= 5:
                parse_seconds += parsed - started
                commit_seconds += done - parsed
        alerts = commits * per_commit
        print(
            f"{shape.name:48} {parse_seconds / alerts * 1e6:15.1f} "
            f"{commit_seconds / alerts * 1e6:16.1f} "
            f"{alerts / (parse_seconds + commit_seconds):9.0f}",
            flush=True,
        )
    db.dispose()
    return 0


class _Nowhere:
    """Answers go nowhere: this bench times the commit, not the hand-back."""

    def deliver(self, jobs: list[Any]) -> None:
        pass


NOWHERE = _Nowhere()


if __name__ == "__main__":
    sys.exit(main())
