"""The cycle runner: every module runs under a database lease, with its own timeout and error
boundary, so any number of workers can run and each step still happens once.

On SQLite a second worker simply finds every lease taken and waits; on PostgreSQL several workers
share the work.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from prometheus_client import Counter, Histogram
from sqlalchemy.orm import Session

from vigil.clock import Clock
from vigil.integrations.expiry import expire_alerts
from vigil.storage import leases
from vigil.storage.db import Database

log = logging.getLogger("vigil.engine")

CYCLE_SECONDS = Histogram("vigil_engine_module_seconds", "Time per engine module run", ["module"])
MODULE_ERRORS = Counter("vigil_engine_module_errors_total", "Engine module failures", ["module"])


@dataclass(frozen=True, slots=True)
class Module:
    """One engine step: `run(session, now)` advances all due rows and returns how many."""

    name: str
    run: Callable[[Session, datetime], int]
    timeout: timedelta = timedelta(seconds=30)


def default_modules() -> list[Module]:
    """The modules in the order they run each cycle."""
    return [Module("expire_alerts", lambda session, now: expire_alerts(session, now=now))]


@dataclass
class CycleResult:
    ran: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class Engine:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        modules: list[Module] | None = None,
        holder: str | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.modules = modules if modules is not None else default_modules()
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"

    def run_cycle(self) -> CycleResult:
        """Run every module once; one module's failure never stops the others."""
        result = CycleResult()
        for module in self.modules:
            started = time.monotonic()
            try:
                with self.db.unit_of_work() as session:
                    now = self.clock.now()
                    if not leases.try_acquire(
                        session, name=module.name, holder=self.holder, ttl=module.timeout, now=now
                    ):
                        result.skipped.append(module.name)
                        continue
                    result.ran[module.name] = module.run(session, now)
            except Exception as exc:  # the module's error boundary: log, count, carry on
                MODULE_ERRORS.labels(module.name).inc()
                result.failed[module.name] = f"{type(exc).__name__}: {exc}"
                log.exception("engine module %s failed", module.name)
            finally:
                CYCLE_SECONDS.labels(module.name).observe(time.monotonic() - started)
        return result

    def run_forever(self, *, interval: float, stop: threading.Event) -> None:
        """Cycle until `stop` is set; `wake()` callers can shorten the wait."""
        while not stop.is_set():
            self.run_cycle()
            stop.wait(interval)


class EmbeddedWorker:
    """The engine on a background thread inside `vigil serve`."""

    def __init__(self, engine: Engine, *, interval: float) -> None:
        self.engine = engine
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vigil-worker", daemon=True)

    def _run(self) -> None:
        self.engine.run_forever(interval=self.interval, stop=self._stop)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
