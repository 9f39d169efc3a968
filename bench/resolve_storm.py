"""Resolve commits as an alert storm in one incident resolves: they should stay flat.

Whether an incident still has a firing alert used to be answered by reading its alerts in order
until one fired, so each resolve commit of a storm read past every alert resolved before it and
grew with the storm (migration 0009 made it one index lookup). This opens `--alerts` generic
alerts that all join one incident (commits of 1000), then resolves them in commits of `--batch`
through the group-commit writer, in process and without HTTP, timing each commit. It prints the
mean commit time for each tenth of the resolve and the last tenth / first tenth ratio; near 1
is flat. Only the last commit resolves the incident, so the last tenth carries that work too.

    .venv/bin/python bench/resolve_storm.py                       # SQLite
    .venv/bin/python bench/resolve_storm.py --database-url postgresql+psycopg://postgres@127.0.0.1/x
"""

from __future__ import annotations

import argparse
import sys
import time

import orjson

from ingest_cost import NOWHERE, setup

OPEN_BATCH = 1000  # the most events one generic request may carry


def body(action: str, first: int, count: int) -> bytes:
    return orjson.dumps(
        [
            {
                "action": action,
                "dedup_key": f"storm-{first + i}",
                "summary": "Disk full",
                "severity": "critical",
                "source": f"host-{first + i:06d}",
                "labels": {"alertname": "DiskFull", "instance": f"host-{first + i:06d}:9100"},
            }
            for i in range(count)
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: SQLite in a temporary directory")
    parser.add_argument("--alerts", type=int, default=20000, help="alerts in the storm")
    parser.add_argument("--batch", type=int, default=100, help="alerts resolved per commit")
    args = parser.parse_args()
    if args.batch < 1 or args.alerts < 10 * args.batch:
        parser.error("--alerts must be at least 10 × --batch (a tenth is at least one commit)")
    bench = setup(args.database_url, "vigil-storm-")
    settings, db, writer = bench.settings, bench.db, bench.writer
    key = bench.service_key("resolve-storm", grouping_mode="labels", integration="generic")

    from vigil.incidents.models import Incident
    from vigil.integrations.generic import parse_generic
    from vigil.integrations.ingest import IngestResult
    from vigil.integrations.writer import IngestJob

    def commit(action: str, first: int, count: int) -> tuple[IngestResult, float]:
        raw = body(action, first, count)
        events = parse_generic(
            orjson.loads(raw),
            body_size=len(raw),
            raw_limit=settings.raw_payload_limit_bytes,
            raw_body=raw,
        )
        job = IngestJob(key=key, events=events, reply_to=NOWHERE)
        started = time.perf_counter()
        writer.commit([job])
        seconds = time.perf_counter() - started
        if not isinstance(job.answer, IngestResult):
            raise SystemExit(f"{action} commit at alert {first} answered {job.answer!r}")
        return job.answer, seconds

    opened: list[int] = []
    for first in range(0, args.alerts, OPEN_BATCH):
        answer, _ = commit("trigger", first, min(OPEN_BATCH, args.alerts - first))
        opened += answer.incidents_opened
    if len(opened) != 1:
        raise SystemExit(f"the storm opened {len(opened)} incidents, not one: {opened}")
    incident_id = opened[0]

    seconds: list[float] = []
    resolved: list[int] = []
    for first in range(0, args.alerts, args.batch):
        answer, took = commit("resolve", first, min(args.batch, args.alerts - first))
        seconds.append(took)
        resolved += answer.incidents_resolved

    print(
        f"{args.alerts} alerts in incident #{incident_id}, resolved in {len(seconds)} commits "
        f"of {args.batch} ({'PostgreSQL' if args.database_url else 'SQLite'})"
    )
    print(f"{'tenth':>5} {'commits':>8} {'mean commit ms':>15}")
    means = []
    for tenth in range(10):
        part = seconds[tenth * len(seconds) // 10 : (tenth + 1) * len(seconds) // 10]
        means.append(sum(part) / len(part))
        print(f"{tenth + 1:>5} {len(part):>8} {means[-1] * 1e3:15.2f}")
    print(f"last tenth / first tenth: {means[-1] / means[0]:.2f}")
    with db.read_session() as session:
        incident = session.get(Incident, incident_id)
        status = incident.status if incident is not None else "missing"
    print(f"every commit answered; incident #{incident_id} status: {status}")
    db.dispose()
    if resolved != [incident_id] or answer.incidents_resolved != resolved or status != "resolved":
        print(f"expected #{incident_id} resolved once, by the last commit: {resolved}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
