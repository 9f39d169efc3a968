"""How the ingest writer's commit cost grows with an alert storm, in process, without HTTP.

Commits of `--requests` Prometheus requests of `--alerts-per-request` new alerts each (6 × 100 is
what the writer commits at 16 connections in `ingest.py`'s `prom100-new-grouped`) into one
service grouped by alertname, and prints the commit's wall time per alert for each window of
`--window` commits. The dedup index grows with the service's alerts, and with it the pages a
commit writes (docs/PERFORMANCE.md, session 16).

    .venv/bin/python bench/ingest_growth.py                       # SQLite, 400 commits
    .venv/bin/python bench/ingest_growth.py --database-url postgresql+psycopg://postgres@127.0.0.1/x
"""

from __future__ import annotations

import argparse
import sys
import time

from ingest_cost import NOWHERE, body, setup


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: SQLite in a temporary directory")
    parser.add_argument("--commits", type=int, default=400)
    parser.add_argument("--requests", type=int, default=6, help="requests per commit")
    parser.add_argument("--alerts-per-request", type=int, default=100)
    parser.add_argument("--window", type=int, default=50, help="commits per printed line")
    parser.add_argument("--ungrouped", action="store_true", help="an incident per alert")
    args = parser.parse_args()
    bench = setup(args.database_url, "vigil-growth-")

    from vigil.cli.processes import freeze_startup_objects
    from vigil.integrations.writer import IngestJob

    freeze_startup_objects()  # the collector as `vigil serve` tunes it
    key = bench.service_key(
        "growth", grouping_mode="none" if args.ungrouped else "labels", integration="prometheus"
    )
    per_commit = args.requests * args.alerts_per_request
    first = 0
    seconds = 0.0
    print(f"{'alerts stored':>14} {'commit us/alert':>16}")
    for commit in range(1, args.commits + 1):
        jobs = []
        for _ in range(args.requests):
            raw = body(first, args.alerts_per_request)
            first += args.alerts_per_request
            jobs.append(IngestJob(key=key, events=bench.parse(raw), reply_to=NOWHERE))
        started = time.perf_counter()
        bench.writer.commit(jobs)
        seconds += time.perf_counter() - started
        if commit % args.window == 0:
            print(f"{commit * per_commit:14,} {seconds / (args.window * per_commit) * 1e6:16.1f}")
            seconds = 0.0
    bench.db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
