"""`vigil serve`'s ingest writer process, started as `python -m vigil ingest-writer`.

It loads only what committing alerts needs: not the web app, the API, the CLI's commands and
their libraries, which took the process from 88 to 115 MB resident before its first alert,
against issue #2's 200 MB per process (`vigil.__main__` sends the command here before the CLI
is imported).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Sequence

from vigil.cli import processes
from vigil.clock import SystemClock
from vigil.config import get_settings
from vigil.incidents.comms import command_config
from vigil.integrations.remote import IngestServer
from vigil.integrations.writer import IngestWriter
from vigil.notify.service import LinkConfig
from vigil.storage import migrate
from vigil.storage.db import Database

# The ingest writer's SQLite page cache: 32 MiB kept an alert storm's index pages at hand
# (+10% after a million alerts) and keeps the process well under 200 MB.
SQLITE_CACHE_MIB = 32


def run(socket_path: str) -> None:
    """Commit inbound alerts for `vigil serve`'s HTTP processes, which connect on
    `socket_path`; stop at the end of standard input (the parent stopped or died)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    settings = get_settings()
    db = Database.from_url(
        settings.resolved_database_url,
        pool_size=settings.db_pool_size,
        sqlite_cache_mib=SQLITE_CACHE_MIB,
        ingest_writer=True,
    )
    migrate.check_schema(db.engine)
    links = LinkConfig(base_url=settings.base_url, secret=settings.resolved_secret_key())
    # Wake-ups for new paging go back with each answer: the HTTP process wakes the worker.
    writer = IngestWriter(
        db, SystemClock(), command_config(settings, links), on_paging=lambda: None
    )
    server = IngestServer(writer, socket_path)
    processes.freeze_startup_objects()
    server.start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    processes.at_end_of_input(stop.set)
    stop.wait()
    server.stop()
    db.dispose()


def main(argv: Sequence[str]) -> None:
    """`ingest-writer --socket PATH`, the arguments `vigil serve` starts it with."""
    parser = argparse.ArgumentParser(prog="vigil ingest-writer")
    parser.add_argument("--socket", required=True, help="Unix socket for the HTTP processes.")
    run(parser.parse_args(argv).socket)
