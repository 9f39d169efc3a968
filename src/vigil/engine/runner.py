"""The cycle runner: modules in a fixed order, each under a database lease with its own timeout
and error boundary, so any number of workers can run and each step still happens once.

Order each cycle: Prometheus alert expiry, overdue-update reminders, escalation (which also
plans each paged person's messages by their rules and claims them), acknowledgement timeouts,
auditing, cleanup. Sending is not under a lease: messages are claimed row by row (SKIP LOCKED on
PostgreSQL), so many workers send in parallel. On SQLite a second worker finds every lease taken
and waits. In `run_forever` pages stream: claimed messages go straight to a pool of send threads
and a recorder thread writes their results in batches, so a page never waits for the database
work of the pages before it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
import sqlalchemy as sa
from prometheus_client import Counter, Histogram
from sqlalchemy.orm import Session

from vigil.clock import Clock, ensure_utc
from vigil.escalation.manager import audit, run_escalations
from vigil.escalation.models import EscalationState, IncidentEscalation
from vigil.incidents.comms import (
    CommandConfig,
    post_announcement_digests,
    remind_overdue_updates,
)
from vigil.incidents.models import AnnouncementWindow
from vigil.incidents.paging import ack_timeouts
from vigil.integrations.expiry import expire_alerts
from vigil.notify import service as notify
from vigil.notify.channels import ChannelSet, SendResult
from vigil.notify.models import MessageStatus, Notification
from vigil.notify.service import Claimed
from vigil.storage import leases
from vigil.storage.db import Database, is_postgres

log = logging.getLogger("vigil.engine")

CYCLE_SECONDS = Histogram("vigil_engine_module_seconds", "Time per engine module run", ["module"])
MODULE_ERRORS = Counter("vigil_engine_module_errors_total", "Engine module failures", ["module"])
SENT = Counter("vigil_notifications_total", "Notification attempts by result", ["result"])
KEEP_MESSAGES = timedelta(days=90)
HOUSEKEEPING = timedelta(seconds=5)
EXPIRY = timedelta(seconds=1)
# After losing a module's lease to another worker, try again at most this often: every
# wake-up reaches every worker (NOTIFY), and a lease the holder keeps renewing would only be
# refused again. Short, so a worker that stops and hands its leases back is replaced at once.
LOST_LEASE_RETRY = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Module:
    """One engine step: `run(session, now)` advances all due rows and returns how many."""

    name: str
    run: Callable[[Session, datetime], int]
    timeout: timedelta = timedelta(seconds=30)
    # Housekeeping runs at most this often, not on every wake-up; None: every cycle.
    every: timedelta | None = None
    # When the module next has work (a one-column query, run outside any transaction): when
    # nothing is due, the module's write transaction (and its lease update) is skipped. Most
    # wake-ups find nothing, and on SQLite every write transaction waits its turn for the one
    # write lock.
    next_due: sa.Select[tuple[datetime | None]] | None = None


@dataclass(frozen=True, slots=True)
class EngineConfig:
    command: CommandConfig
    channels: ChannelSet
    max_attempts: int = 5
    send_threads: int = 8
    claim_for: timedelta = timedelta(seconds=60)
    # How long finished sends gather before their results are written in one transaction: a
    # result waits for no page, and on SQLite each write transaction is a turn at the one lock
    # that the next page's escalation step also needs.
    record_every: timedelta = timedelta(milliseconds=50)
    # Never start a send that could outlive its claim (the channel timeout plus a margin).
    send_margin: timedelta = timedelta(seconds=15)

    @property
    def send_batch(self) -> int:
        """Claim only what the pool can send well within the claim."""
        return self.send_threads * 4


def cleanup(session: Session, *, now: datetime) -> int:
    """Forget delivered and cancelled messages after 90 days; the timeline keeps the record."""
    result = session.execute(
        sa.delete(Notification).where(
            Notification.status.in_([MessageStatus.SENT, MessageStatus.CANCELLED]),
            Notification.created_at < now - KEEP_MESSAGES,
        )
    )
    return int(result.rowcount or 0)


def default_modules(config: EngineConfig) -> list[Module]:
    """The leased modules in the order they run each cycle (sending runs after escalation)."""
    return [
        # Expiry is a once-a-second matter; a wake-up for a new page need not pay for it.
        Module("expire_alerts", lambda s, now: expire_alerts(s, now=now), every=EXPIRY),
        Module(
            "update_reminders",
            lambda s, now: remind_overdue_updates(s, now=now, config=config.command),
            every=HOUSEKEEPING,
        ),
        Module(
            "announcement_digests",
            lambda s, now: post_announcement_digests(s, now=now, config=config.command),
            every=HOUSEKEEPING,
            next_due=_NEXT_DIGEST,
        ),
        Module(
            "escalation",
            lambda s, now: run_escalations(s, now=now, links=config.command.links),
            next_due=_NEXT_STEP,
        ),
        Module("ack_timeouts", lambda s, now: ack_timeouts(s, now=now), every=HOUSEKEEPING),
        Module("audit", lambda s, now: audit(s, now=now), every=HOUSEKEEPING),
        Module("cleanup", lambda s, now: cleanup(s, now=now), every=timedelta(minutes=10)),
    ]


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
        config: EngineConfig,
        *,
        modules: list[Module] | None = None,
        holder: str | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.config = config
        self.modules = modules if modules is not None else default_modules(config)
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._wake = threading.Event()
        self._send_wake = threading.Event()
        # Messages claimed by the escalation step's own transaction, waiting for the sender.
        self._handoff: list[Claimed] = []
        self._handoff_lock = threading.Lock()
        # In `run_forever`, claimed messages go straight to the send pool and finished sends
        # queue here for the recorder thread, so no page waits for another page's bookkeeping.
        self._streaming = False
        self._in_flight = 0
        self._sent: list[tuple[Claimed, SendResult]] = []
        self._sent_lock = threading.Condition()
        self._record_wake = threading.Event()
        self._last_run: dict[str, datetime] = {}
        self._lost_until: dict[str, datetime] = {}
        # On PostgreSQL a wake-up is a NOTIFY sent by the commit that made work due, so the
        # cycle it starts goes straight to the work: a look first would be one more round trip,
        # and the module's own query finds the same rows. (On SQLite the look keeps idle
        # wake-ups away from the one write lock.)
        self._trust_wakes = is_postgres(db.engine)
        self._woken = False
        self._held_until: dict[str, datetime] = {}
        self._pool = ThreadPoolExecutor(config.send_threads, thread_name_prefix="vigil-send")

    def wake(self) -> None:
        """Run the next cycle now instead of at the end of the interval (new work arrived). The
        sender looks once that cycle is over: the cycle's escalation step claims due messages
        itself, so the two need not race for them."""
        self._wake.set()

    def run_cycle(self, *, send: bool = True) -> CycleResult:
        """Run every module once; one module's failure never stops the others. With `send`, the
        sender runs right after escalation (tests and one-shot runs); `run_forever` instead
        sends on a thread of its own, so a burst of sends never holds back the next step."""
        result = CycleResult()
        for module in self.modules:
            self._run_module(module, result)
            if module.name == "escalation":
                if send:
                    self._run_sender(result)
                elif result.ran.get("escalation"):
                    self._send_wake.set()
        if send and not any(m.name == "escalation" for m in self.modules):
            self._run_sender(result)
        return result

    def _run_module(self, module: Module, result: CycleResult) -> None:
        now = self.clock.now()
        last = self._last_run.get(module.name)
        if module.every is not None and last is not None and now - last < module.every:
            return
        if now < self._lost_until.get(module.name, now):
            result.skipped.append(module.name)
            return
        self._last_run[module.name] = now
        started = time.monotonic()
        claimed: list[Claimed] = []
        try:
            if module.next_due is not None and not (self._woken and self._trust_wakes):
                soonest = self.db.peek(module.next_due)
                if soonest is None or ensure_utc(soonest) > now:
                    result.ran[module.name] = 0
                    return
            renewed: datetime | None = None
            with self.db.unit_of_work() as session:
                now = self.clock.now()
                if self._must_renew(module, now):
                    if not leases.try_acquire(
                        session, name=module.name, holder=self.holder, ttl=module.timeout, now=now
                    ):
                        self._lost_until[module.name] = now + LOST_LEASE_RETRY
                        result.skipped.append(module.name)
                        return
                    renewed = now + module.timeout
                result.ran[module.name] = module.run(session, now)
                if module.name == "escalation" and result.ran[module.name]:
                    # Claim the pages just planned in the same transaction: the sender gets
                    # them without a transaction (and a turn at SQLite's write lock) of its own.
                    claimed = self._claim(session, now)
            if renewed is not None:  # committed: the lease is ours until then
                self._held_until[module.name] = renewed
            if self._streaming:
                self._dispatch(claimed)
            else:
                with self._handoff_lock:
                    self._handoff += claimed
        except Exception as exc:  # the module's error boundary: log, count, carry on
            MODULE_ERRORS.labels(module.name).inc()
            result.failed[module.name] = f"{type(exc).__name__}: {exc}"
            log.exception("engine module %s failed", module.name)
        finally:
            CYCLE_SECONDS.labels(module.name).observe(time.monotonic() - started)

    def _must_renew(self, module: Module, now: datetime) -> bool:
        """A lease this worker took (and committed) holds until its expiry, so it is renewed only
        once half of it has passed: an update (a round trip, a write) saved on most cycles."""
        held_until = self._held_until.get(module.name)
        return held_until is None or now >= held_until - module.timeout / 2

    def _run_sender(self, result: CycleResult) -> None:
        started = time.monotonic()
        try:
            result.ran["send"] = self.send_due()
        except Exception as exc:
            MODULE_ERRORS.labels("send").inc()
            result.failed["send"] = f"{type(exc).__name__}: {exc}"
            log.exception("engine module send failed")
        finally:
            CYCLE_SECONDS.labels("send").observe(time.monotonic() - started)

    def send_due(self) -> int:
        """Claim due messages (committed), send them outside any transaction, and record the
        results of the sends that finished meanwhile in one transaction at a time: a worker
        killed mid-send re-sends at most what was in flight, under the same idempotency key."""
        total = 0
        while True:
            with self._handoff_lock:
                claimed, self._handoff = self._handoff, []
            if not claimed:
                with self.db.unit_of_work() as session:
                    claimed = self._claim(session, self.clock.now())
            if not claimed:
                return total
            pending = {self._pool.submit(self._send_one, c) for c in claimed}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                self._record([f.result() for f in done if f.result() is not None])
            total += len(claimed)
            if len(claimed) < self.config.send_batch:
                return total

    def _claim(self, session: Session, now: datetime, limit: int | None = None) -> list[Claimed]:
        return notify.claim_due(
            session,
            now=now,
            holder=self.holder,
            limit=limit or self.config.send_batch,
            claim_for=self.config.claim_for,
        )

    def _send_one(self, claimed: Claimed) -> tuple[Claimed, SendResult] | None:
        if self.clock.now() + self.config.send_margin >= claimed.claimed_until:
            return None  # the claim could lapse mid-send; the next claim sends it, exactly once
        try:
            outcome = self.config.channels.send(claimed.destination, claimed.message)
        except Exception as exc:  # an adapter bug must not lose the message: retry it later
            log.exception("channel %s raised", claimed.destination.kind)
            outcome = SendResult.transient(f"{type(exc).__name__}: {exc}")
        return claimed, outcome

    def _record(self, outcomes: list[tuple[Claimed, SendResult]]) -> None:
        if not outcomes:
            return
        with self.db.unit_of_work() as session:
            statuses = notify.record_results(
                session,
                outcomes=outcomes,
                now=self.clock.now(),
                max_attempts=self.config.max_attempts,
            )
        for status in statuses:
            SENT.labels(status if status != MessageStatus.PENDING else "retry").inc()

    def run_forever(self, *, interval: float, stop: threading.Event) -> None:
        """Cycle until `stop` is set. Pages stream: the escalation step hands what it claimed
        straight to the send pool, a sender thread claims whatever else falls due (retries,
        pages of other workers' lapsed claims), and a recorder thread writes finished sends in
        batches. Each loop sleeps until its next step or message is due (at most `interval`);
        `wake()` starts them at once."""
        self._streaming = True
        sender = threading.Thread(
            target=self._send_forever, args=(interval, stop), name="vigil-sender", daemon=True
        )
        recorder_stop = threading.Event()
        recorder = threading.Thread(
            target=self._record_forever, args=(recorder_stop,), name="vigil-recorder", daemon=True
        )
        sender.start()
        recorder.start()
        try:
            while not stop.is_set():
                self._woken = self._wake.is_set()
                self._wake.clear()
                self.run_cycle(send=False)
                if self._woken:  # what the waking commit planned and the cycle left is due now
                    self._send_wake.set()
                if not self._wake.is_set():  # woken meanwhile: go again without asking
                    self._wake.wait(self._seconds_until_next_step(interval))
        finally:
            self._send_wake.set()
            sender.join(timeout=30)
            with self._sent_lock:  # let the sends in flight finish, so their results are kept
                self._sent_lock.wait_for(lambda: self._in_flight == 0, timeout=30)
            recorder_stop.set()
            self._record_wake.set()
            recorder.join(timeout=30)
            self._streaming = False

    def _dispatch(self, claimed: list[Claimed]) -> None:
        """Start sending claimed messages now, each on a pool thread."""
        with self._sent_lock:
            self._in_flight += len(claimed)
        for message in claimed:
            self._pool.submit(self._send_one, message).add_done_callback(self._sent_one)

    def _sent_one(self, future: Future[tuple[Claimed, SendResult] | None]) -> None:
        outcome = None if future.cancelled() or future.exception() else future.result()
        with self._sent_lock:
            if outcome is not None:
                self._sent.append(outcome)
            was_full = self._in_flight >= self.config.send_batch
            self._in_flight -= 1
            self._sent_lock.notify_all()
        self._record_wake.set()
        if was_full:
            self._send_wake.set()  # room in the pool again: the sender may claim more

    def _send_forever(self, interval: float, stop: threading.Event) -> None:
        """Claim what falls due outside an escalation step (retries, lapsed claims, pages beyond
        one cycle's batch) while the pool has room; one read decides between claiming and
        sleeping, so an idle wake-up never takes a write transaction."""
        while not stop.is_set():
            self._send_wake.clear()
            room = self.config.send_batch - self._in_flight
            wait = (
                self._seconds_until(_NEXT_MESSAGE, interval, now=self.clock.now())
                if room > 0
                else interval
            )
            if wait <= 0:
                try:
                    with self.db.unit_of_work() as session:
                        claimed = self._claim(session, self.clock.now(), limit=room)
                except Exception:
                    MODULE_ERRORS.labels("send").inc()
                    log.exception("engine module send failed")
                    claimed = []
                self._dispatch(claimed)
                if claimed:
                    continue
                wait = min(interval, 0.1)  # another worker took them: look again shortly
            if not self._send_wake.is_set():
                self._send_wake.wait(wait)

    def _record_forever(self, stop: threading.Event) -> None:
        """Write finished sends in batches, at most every `record_every`; a batch that cannot be
        written is kept and tried again (until then its claim keeps it from being re-sent)."""
        pause = self.config.record_every.total_seconds()
        while True:
            self._record_wake.wait()
            self._record_wake.clear()
            if not stop.is_set():
                stop.wait(pause)  # let results gather into one transaction
            with self._sent_lock:
                batch, self._sent = self._sent, []
            try:
                self._record(batch)
            except Exception:
                MODULE_ERRORS.labels("record").inc()
                log.exception("recording sent messages failed; trying again")
                with self._sent_lock:
                    self._sent = batch + self._sent
                # Stopping with the database away: the claims lapse, and whoever claims next
                # re-sends under the same idempotency keys.
                if stop.is_set():
                    return
                stop.wait(1.0)
                self._record_wake.set()
                continue
            with self._sent_lock:
                if stop.is_set() and not self._sent and self._in_flight == 0:
                    return

    def _seconds_until_next_step(self, interval: float) -> float:
        """While another worker holds the escalation lease, its due steps are not ours to fire:
        wait for the next try rather than spin on a step that stays due until the holder fires
        it."""
        lost_until = self._lost_until.get("escalation")
        if lost_until is not None:
            wait = (lost_until - self.clock.now()).total_seconds()
            if wait > 0:
                return min(interval, wait)
        return self._seconds_until(_NEXT_STEP, interval)

    def _seconds_until(
        self, query: sa.Select[tuple[datetime | None]], interval: float, **params: Any
    ) -> float:
        """How long nothing is due (the earliest escalation step, or message), capped."""
        try:
            soonest = self.db.peek(query, **params)
        except Exception:  # the database is away: poll at the normal pace
            return interval
        if soonest is None:
            return interval
        wait = (ensure_utc(soonest) - self.clock.now()).total_seconds()
        return max(0.0, min(interval, wait))

    def release_leases(self) -> None:
        """Hand every module's lease back, so a restarted worker need not wait for them."""
        try:
            with self.db.unit_of_work() as session:
                for module in self.modules:
                    leases.release(session, name=module.name, holder=self.holder)
            self._held_until.clear()
        except Exception:  # shutting down: the leases expire on their own anyway
            log.warning("could not release leases", exc_info=True)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.release_leases()
        self.config.channels.close()


def _earliest_next_at(state: EscalationState) -> sa.ScalarSelect[Any]:
    column = IncidentEscalation.next_at
    return (
        sa.select(column)
        .where(IncidentEscalation.state == state, column.is_not(None))
        .order_by(column)
        .limit(1)
        .scalar_subquery()
    )


# When the first window whose channel has not heard of all its incidents ends: a few rows, one
# per stakeholder channel and window of an alert storm, and none a day later.
_NEXT_DIGEST = sa.select(sa.func.min(AnnouncementWindow.window_end)).where(
    AnnouncementWindow.held > AnnouncementWindow.digested
)
# The earliest step of either live state, each read off the end of the (state, next_at) index:
# `min(next_at) WHERE state IN (…)` read every live escalation, at every wake-up, and an
# ungrouped alert storm keeps thousands live.
_ACTIVE_NEXT, _WAITING_NEXT = (
    _earliest_next_at(EscalationState.ACTIVE),
    _earliest_next_at(EscalationState.WAITING),
)
_NEXT_STEP = sa.select(
    sa.case(
        (_ACTIVE_NEXT.is_(None), _WAITING_NEXT),
        (_WAITING_NEXT.is_(None), _ACTIVE_NEXT),
        (_ACTIVE_NEXT < _WAITING_NEXT, _ACTIVE_NEXT),
        else_=_WAITING_NEXT,
    )
)
# The first pending message by `send_at` that nobody holds a live claim on: read in the order of
# the (status, send_at) index, past at most the messages in flight. A message in flight elsewhere
# is due again only when its claim lapses, which the sender sees at its next look (at most a
# worker interval later). The minimum over every pending message of its due time, as this was,
# read all of them at every wake-up: an alert storm queues thousands.
_NEXT_MESSAGE = (
    sa.select(Notification.send_at)
    .where(
        Notification.status == MessageStatus.PENDING,
        sa.or_(
            Notification.claimed_until.is_(None),
            Notification.claimed_until <= Notification.send_at,
            Notification.claimed_until <= sa.bindparam("now"),
        ),
    )
    .order_by(Notification.send_at)
    .limit(1)
)


class Listener:
    """On PostgreSQL, LISTEN for `vigil_wake` so work committed by any process wakes this worker
    within milliseconds rather than at the next cycle."""

    CHANNEL = "vigil_wake"

    def __init__(self, url: str, engine: Engine) -> None:
        self.url = url.replace("postgresql+psycopg://", "postgresql://")
        self.engine = engine
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vigil-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {self.CHANNEL}")
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self.engine.wake()
            except Exception:  # reconnect: the cycle still runs every interval meanwhile
                log.warning("wake-up listener lost its connection; reconnecting", exc_info=True)
                self._stop.wait(2)


class EmbeddedWorker:
    """The engine on a background thread inside `vigil serve`."""

    def __init__(self, engine: Engine, *, interval: float, listen_url: str | None = None) -> None:
        self.engine = engine
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vigil-worker", daemon=True)
        self._listener = Listener(listen_url, engine) if listen_url else None

    def _run(self) -> None:
        self.engine.run_forever(interval=self.interval, stop=self._stop)

    def start(self) -> None:
        self._thread.start()
        if self._listener:
            self._listener.start()

    def stop(self) -> None:
        self._stop.set()
        self.engine.wake()
        if self._listener:
            self._listener.stop()
        self._thread.join(timeout=10)
        self.engine.close()


class WorkerProcess:
    """The engine in a child process of `vigil serve`, woken through a pipe.

    One Python process runs one thread at a time: at 100 new alerts a second the HTTP server,
    the ingest writer and the engine together needed a whole core, and every page waited its turn
    for the interpreter. A child process gives the engine a core of its own. It is still "the
    embedded worker": `vigil serve` starts it, restarts it if it dies, and stops it on the way
    out. Each byte written to its stdin wakes it at once (`vigil worker --wake-from-stdin`); end
    of input, which also happens when `vigil serve` is killed, stops it. `vigil serve` supervises
    its ingest writer process (`vigil ingest-writer`) the same way.
    """

    RESTART_DELAY = 1.0

    def __init__(self, argv: list[str], *, name: str = "worker") -> None:
        self.argv = argv
        self.name = name  # what the log calls it: the same supervision serves the ingest writer
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._monitor = threading.Thread(
            target=self._supervise, name=f"vigil-{name}-process", daemon=True
        )

    def start(self) -> None:
        self._spawn()
        self._monitor.start()

    def _spawn(self) -> None:
        # Its own session: Ctrl-C in the terminal reaches `vigil serve`, which then stops it.
        process = subprocess.Popen(self.argv, stdin=subprocess.PIPE, start_new_session=True)
        assert process.stdin is not None
        os.set_blocking(process.stdin.fileno(), False)
        self._process = process

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            process = self._process
            if process is None:
                return
            code = process.wait()
            if self._stopping.is_set():
                return
            log.error("the %s process exited with %s; starting a new one", self.name, code)
            self._stopping.wait(self.RESTART_DELAY)
            if not self._stopping.is_set():
                self._spawn()

    def wake(self) -> None:
        """Ask for a cycle now; a full pipe already holds a wake-up, so nothing is lost."""
        process = self._process
        if process is None or process.stdin is None:
            return
        with contextlib.suppress(OSError, ValueError):  # full pipe, or the child is gone
            os.write(process.stdin.fileno(), b"w")

    def stop(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        process = self._process
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wake_from_stdin(engine: Engine, stop: threading.Event) -> threading.Thread:
    """The child's end of `WorkerProcess`: wake on every byte, stop at end of input."""

    def read() -> None:
        stream = os.fdopen(0, "rb", buffering=0, closefd=False)
        while True:
            try:
                data = stream.read(4096)
            except OSError:
                data = b""
            if not data:
                stop.set()
                engine.wake()
                return
            engine.wake()

    thread = threading.Thread(target=read, name="vigil-wake-pipe", daemon=True)
    thread.start()
    return thread
