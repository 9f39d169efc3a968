"""Group commit for inbound alerts: one writer thread commits every request queued meanwhile.

A burst of small requests (Prometheus sends one alert per request when it talks to an
Alertmanager) would otherwise cost a transaction each: a commit (an fsync on PostgreSQL), the
SQLite write lock, and a dozen statements. The writer takes everything queued while it was busy,
applies it per service in one set-based pass, commits once, and only then answers each request,
so a 2xx still means "committed". When a grouped commit fails, each request is retried alone, so
one request's trouble is never another's answer.

Answers go back to the event loop that asked, all of a commit's in one call: a wake-up of the
loop per request cost a system call and a round of callbacks each.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import Histogram

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


@dataclass(slots=True)
class IngestJob:
    """One request's events, and where its answer goes once they are committed."""

    key: str
    events: list[AlertEvent]
    future: asyncio.Future[IngestResult]
    answer: IngestResult | BaseException | None = None


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

    def submit(self, key: str, events: list[AlertEvent]) -> asyncio.Future[IngestResult]:
        """Queue one request (from the event loop); the future resolves after its commit, or
        with its error."""
        job = IngestJob(key=key, events=events, future=asyncio.get_running_loop().create_future())
        self._ensure_started()
        self._queue.put(job)
        return job.future

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
            try:
                self.commit(batch)
            except Exception as exc:  # never leave a request waiting for an answer
                log.exception("ingest writer failed")
                for job in batch:
                    if job.answer is None:
                        job.answer = exc
            _answer(batch)
            if stopping:
                return

    def _drain(self, first: IngestJob) -> tuple[list[IngestJob], bool]:
        """The first job plus whatever else is already queued, up to the size bound."""
        batch = [first]
        size = len(first.events)
        while size < self.max_events:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return batch, True
            batch.append(job)
            size += len(job.events)
        return batch, False

    def commit(self, batch: list[IngestJob]) -> None:
        """Commit a batch together, or each job alone when the batch as a whole fails."""
        started = time.perf_counter()
        try:
            answers = self._commit_together(batch)
            COMMIT_SECONDS.observe(time.perf_counter() - started)
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
            if not isinstance(answer, BaseException):
                paging = paging or answer.paging_started
        if paging:
            self.on_paging()

    def _commit_together(self, batch: list[IngestJob]) -> list[IngestResult | BaseException]:
        answers: list[IngestResult | BaseException | None] = [None] * len(batch)
        by_key: dict[str, list[int]] = {}
        for index, job in enumerate(batch):
            by_key.setdefault(job.key, []).append(index)
        with self.db.unit_of_work() as session:
            now = self.clock.now()
            by_service: dict[int, tuple[Service, list[int]]] = {}
            for key, indexes in by_key.items():
                try:
                    service = services.service_for_key(session, key=key)
                except NotFound as exc:
                    for index in indexes:
                        answers[index] = exc
                    continue
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
                )
                for index, result in zip(indexes, results, strict=True):
                    answers[index] = result
        return [answer for answer in answers if answer is not None]


def _answer(batch: list[IngestJob]) -> None:
    """Hand each job's answer to its event loop: one thread-safe call per loop and commit."""
    by_loop: dict[asyncio.AbstractEventLoop, list[IngestJob]] = {}
    for job in batch:
        by_loop.setdefault(job.future.get_loop(), []).append(job)
    for loop, jobs in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, jobs)
        except RuntimeError:  # the loop has closed: nobody is waiting any more
            continue


def _settle(jobs: list[IngestJob]) -> None:
    for job in jobs:
        if job.future.done():  # the request was cancelled (its sender hung up)
            continue
        if isinstance(job.answer, BaseException):
            job.future.set_exception(job.answer)
        elif job.answer is not None:
            job.future.set_result(job.answer)
        else:
            job.future.set_exception(RuntimeError("the ingest writer gave no answer"))
