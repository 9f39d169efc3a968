"""Group commit for inbound alerts: one writer thread commits every request queued meanwhile.

A burst of small requests (Prometheus sends one alert per request when it talks to an
Alertmanager) would otherwise cost a transaction each: a commit (an fsync on PostgreSQL), the
SQLite write lock, and a dozen statements. The writer takes everything queued while it was busy,
applies it per service in one set-based pass, commits once, and only then answers each request,
so a 2xx still means "committed". When a grouped commit fails, each request is retried alone, so
one request's trouble is never another's answer.

Answers go back to where each request came from, all of a commit's in one call per place: the
event loop that asked (a wake-up of the loop per request cost a system call and a round of
callbacks each), or the connection of an HTTP process when the writer runs in a process of its
own (`vigil.integrations.remote`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import Histogram
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.alerts.events import AlertEvent
from vigil.clock import Clock
from vigil.errors import NotFound
from vigil.incidents.comms import CommandConfig
from vigil.integrations.ingest import IngestResult, ingest_requests
from vigil.services import service as services
from vigil.services.models import Service
from vigil.storage.db import Database

log = logging.getLogger("vigil.ingest")
COMMIT_SECONDS = Histogram(
    "vigil_ingest_commit_seconds",
    "Time of one grouped ingest commit, from the first statement to the commit",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
COMMIT_REQUESTS = Histogram(
    "vigil_ingest_commit_requests",
    "Inbound requests answered by one grouped ingest commit",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)

# Bound one commit's size, so a flood still answers its first requests promptly.
MAX_EVENTS_PER_COMMIT = 5_000
# Services the writer remembers by integration key (PostgreSQL), before it starts over.
_SERVICES_KEPT = 1024


class _ServiceChanged(Exception):
    """A remembered service was not the service as locked: its commit is undone and redone."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class ReplyTo(Protocol):
    """Where answers go: called once per commit, from the writer thread, with the jobs of that
    commit that came from here (each with its `answer` set)."""

    def deliver(self, jobs: list[IngestJob]) -> None: ...


@dataclass(slots=True)
class IngestJob:
    """One request's events, and where its answer goes once they are committed."""

    key: str
    events: list[AlertEvent]
    reply_to: ReplyTo
    # What `reply_to` needs to find the request again: its future, or its number on a connection.
    tag: Any = None
    answer: IngestResult | BaseException | None = None
    commit_seconds: float = 0.0  # of the commit that answered it, for the HTTP process's metrics


class _LoopReply:
    """Answers for futures of one event loop, handed over with one thread-safe call."""

    __slots__ = ("loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def deliver(self, jobs: list[IngestJob]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
            self.loop.call_soon_threadsafe(_settle, jobs)


class IngestWriter:
    """Owns the thread that commits queued ingest jobs; started on first use."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        command: CommandConfig,
        *,
        on_paging: Callable[[], None],
        max_events: int = MAX_EVENTS_PER_COMMIT,
    ) -> None:
        self.db = db
        self.clock = clock
        self.command = command
        self.on_paging = on_paging
        self.max_events = max_events
        self._queue: queue.SimpleQueue[IngestJob | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._replies: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopReply] = (
            weakref.WeakKeyDictionary()
        )
        # PostgreSQL: each key's service as last locked, so the next commit of that key can
        # send its lock with the pass's first read (`_find_service`). Only this thread uses it.
        self._services: dict[str, Any] = {}
        # SQLite's lock costs no round trip: nothing to save there.
        self._remembers = db.engine.dialect.name == "postgresql"

    def submit(self, key: str, events: list[AlertEvent]) -> asyncio.Future[IngestResult]:
        """Queue one request (from the event loop); the future resolves after its commit, or
        with its error."""
        loop = asyncio.get_running_loop()
        reply = self._replies.get(loop)
        if reply is None:
            reply = self._replies[loop] = _LoopReply(loop)
        future: asyncio.Future[IngestResult] = loop.create_future()
        self.enqueue(IngestJob(key=key, events=events, reply_to=reply, tag=future))
        return future

    def enqueue(self, job: IngestJob) -> None:
        """Queue one job from any thread; `job.reply_to` hears of it after its commit."""
        self._ensure_started()
        self._queue.put(job)

    def stop(self) -> None:
        """Finish what is queued, then end the thread."""
        thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=30)

    def _ensure_started(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="vigil-ingest-writer", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stopping = self._drain(first)
            self.commit_and_answer(batch)
            if stopping:
                return

    def commit_and_answer(self, batch: list[IngestJob]) -> None:
        """Commit jobs (in commits of at most `max_events` events) and answer each of them;
        no job is left without an answer, whatever fails."""
        start = 0
        while start < len(batch):
            end, size = start + 1, len(batch[start].events)
            while end < len(batch) and size + len(batch[end].events) <= self.max_events:
                size += len(batch[end].events)
                end += 1
            part = batch[start:end]
            try:
                self.commit(part)
            except Exception as exc:
                log.exception("ingest writer failed")
                for job in part:
                    if job.answer is None:
                        job.answer = exc
            _answer(part)
            start = end

    def _drain(self, first: IngestJob) -> tuple[list[IngestJob], bool]:
        """The first job plus whatever else is already queued (`commit_and_answer` splits them
        into commits of bounded size)."""
        batch = [first]
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return batch, False
            if job is None:
                return batch, True
            batch.append(job)

    def commit(self, batch: list[IngestJob]) -> None:
        """Commit a batch together, or each job alone when the batch as a whole fails."""
        started = time.perf_counter()
        try:
            answers = self._commit_together(batch)
            elapsed = time.perf_counter() - started
            COMMIT_SECONDS.observe(elapsed)
            COMMIT_REQUESTS.observe(len(batch))
        except Exception as exc:
            if len(batch) == 1:
                batch[0].answer = exc
                return
            log.warning("grouped ingest of %d requests failed; retrying each alone", len(batch))
            for job in batch:
                self.commit([job])
            return
        paging = False
        for job, answer in zip(batch, answers, strict=True):
            job.answer = answer
            job.commit_seconds = elapsed
            if not isinstance(answer, BaseException):
                paging = paging or answer.paging_started
        if paging:
            self.on_paging()

    def _commit_together(self, batch: list[IngestJob]) -> list[IngestResult | BaseException]:
        try:
            return self._commit_once(batch, remembered=True)
        except _ServiceChanged as changed:
            # Changed, its key revoked or the service deleted since it was remembered: nothing
            # was committed; forget it and look it up again.
            self._services.pop(changed.key, None)
            return self._commit_once(batch, remembered=False)

    def _commit_once(
        self, batch: list[IngestJob], *, remembered: bool
    ) -> list[IngestResult | BaseException]:
        answers: list[IngestResult | BaseException | None] = [None] * len(batch)
        by_key: dict[str, list[int]] = {}
        for index, job in enumerate(batch):
            by_key.setdefault(job.key, []).append(index)
        check: tuple[str, Service, Callable[[], Any]] | None = None
        try:
            with self.db.pinned_unit_of_work() as session:
                now = self.clock.now()
                by_service: dict[int, tuple[Service, list[int]]] = {}
                # One key, so one service: its lookup takes its ingest lock too (a statement less).
                locked = len(by_key) == 1
                for key, indexes in by_key.items():
                    try:
                        service, as_locked = self._find_service(
                            session, key, lock=locked, remembered=remembered
                        )
                    except NotFound as exc:
                        for index in indexes:
                            answers[index] = exc
                        continue
                    if as_locked is not None:
                        check = (key, service, as_locked)
                    by_service.setdefault(service.id, (service, []))[1].extend(indexes)
                # Services in id order: two processes committing the same services never deadlock.
                for service_id in sorted(by_service):
                    service, indexes = by_service[service_id]
                    indexes.sort()
                    results = ingest_requests(
                        session,
                        service=service,
                        requests=[batch[i].events for i in indexes],
                        now=now,
                        command=self.command,
                        service_locked=locked,
                    )
                    for index, result in zip(indexes, results, strict=True):
                        answers[index] = result
                if check is not None:
                    key, service, as_locked = check
                    if as_locked() != service:  # read with the pass's first read, under the lock
                        raise _ServiceChanged(key)
        except IntegrityError as exc:
            # A service deleted since it was remembered can fail the writes (the incidents the
            # pass opens refer to it) before the comparison can.
            if check is None:
                raise
            raise _ServiceChanged(check[0]) from exc
        return [answer for answer in answers if answer is not None]

    def _find_service(
        self, session: Session, key: str, *, lock: bool, remembered: bool
    ) -> tuple[Service, Callable[[], Any] | None]:
        """The service of `key`, and, when it is the one remembered, the function that reads
        it as locked, for the caller to compare once the pass has run.

        On PostgreSQL the lock is a statement and a round trip of its own, and the pass's read
        must follow it. A remembered service lets the pass decide before the lock's answer:
        the lock goes out with the pass's first read, in one pipeline, and the service as
        locked is compared with the one the pass used before the commit; a service changed
        meanwhile (its grouping, its key revoked, the service deleted) undoes the commit, which
        runs again with the service as it is. A commit of single alerts waits for PostgreSQL twice.
        """
        if lock and remembered:
            known = self._services.get(key)
            if known is not None:
                self._remembered_key = key
                return known, services.lock_service_for_key_later(session, key=key)
        service = services.service_for_key(session, key=key, lock=lock)
        if lock and self._remembers:
            if len(self._services) >= _SERVICES_KEPT:
                self._services.clear()
            self._services[key] = service
        return service, None


def _answer(batch: list[IngestJob]) -> None:
    """Hand each job's answer back where it came from: one delivery per place and commit."""
    by_place: dict[int, tuple[ReplyTo, list[IngestJob]]] = {}
    for job in batch:
        by_place.setdefault(id(job.reply_to), (job.reply_to, []))[1].append(job)
    for reply_to, jobs in by_place.values():
        try:
            reply_to.deliver(jobs)
        except Exception:  # one place's trouble (a closed connection) is not another's
            log.exception("could not deliver %d ingest answers", len(jobs))


def settle(
    future: asyncio.Future[IngestResult], answer: IngestResult | BaseException | None
) -> None:
    """Resolve one request's future with its answer (on the future's own event loop)."""
    if future.done():  # the request was cancelled (its sender hung up)
        return
    if isinstance(answer, BaseException):
        future.set_exception(answer)
    elif answer is not None:
        future.set_result(answer)
    else:
        future.set_exception(RuntimeError("the ingest writer gave no answer"))


def _settle(jobs: list[IngestJob]) -> None:
    for job in jobs:
        settle(job.tag, job.answer)
