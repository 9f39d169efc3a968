"""The ASGI app factory: `create_app()` wires settings, database, clock and routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import State

from vigil import __version__
from vigil.api import (
    accounts,
    command,
    fastlane,
    health,
    incidents,
    integrations,
    paging,
    schedules,
    services,
)
from vigil.api.errors import install_error_handlers
from vigil.clock import Clock, SystemClock
from vigil.config import Settings, get_settings
from vigil.engine.runner import EmbeddedWorker, Engine, EngineConfig, WorkerProcess
from vigil.incidents.comms import CommandConfig, command_config
from vigil.integrations.remote import RemoteIngestWriter
from vigil.integrations.writer import IngestWriter
from vigil.notify.senders import channels_from_settings
from vigil.notify.service import LinkConfig
from vigil.storage.db import Database, is_postgres
from vigil.web import install as install_web
from vigil.web import links as link_pages
from vigil.web import views

DESCRIPTION = """
Vigil takes alerts from the tools you already run and turns them into incidents.

Authenticate REST calls with `Authorization: Bearer <token>` (`vigil token create`).
Inbound integrations authenticate by the integration key in their URL or body.
Every error is JSON: `{"error": "...", "field": "..."}`.
"""


class AppState(State):
    """`app.state`, whose values are also ordinary attributes.

    Starlette's `State` keeps them in a dict that its `__getattr__` reads, and Python calls
    `__getattr__` only after the ordinary lookup has failed, raising and formatting an
    AttributeError that is then thrown away: the four reads of an inbound request cost more
    than parsing its alert.
    """

    def __setattr__(self, key: Any, value: Any) -> None:
        super().__setattr__(key, value)
        object.__setattr__(self, key, value)

    def __delattr__(self, key: Any) -> None:
        super().__delattr__(key)
        object.__delattr__(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        self.__setattr__(key, value)

    def __delitem__(self, key: str) -> None:
        self.__delattr__(key)


class VigilApp(FastAPI):
    """FastAPI, with the inbound integrations' POSTs answered by `vigil.api.fastlane` before
    the middleware stack and the router."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            found = fastlane.route(scope["path"])
            if found is not None:
                await fastlane.serve(self, found[0], found[1], scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def build_engine(settings: Settings, db: Database, clock: Clock, command: CommandConfig) -> Engine:
    """An engine with the channels the settings configure."""
    return Engine(
        db,
        clock,
        EngineConfig(
            command=command,
            channels=channels_from_settings(settings, clock),
            max_attempts=settings.notify_max_attempts,
            claim_for=timedelta(seconds=settings.notify_claim_seconds),
            send_margin=timedelta(seconds=settings.notify_http_timeout_seconds + 5),
        ),
    )


def create_app(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    clock: Clock | None = None,
    embedded_worker: bool = False,
    worker_process: list[str] | None = None,
    ingest_socket: str | None = None,
    ingest_process: list[str] | None = None,
) -> FastAPI:
    """The app; with `embedded_worker` the engine runs beside it, on a thread, or, when
    `worker_process` gives the command line of a `vigil worker --wake-from-stdin`, in a child
    process of its own (what `vigil serve` does).

    Inbound alerts are committed by a writer thread of this process, or, with `ingest_socket`,
    by the ingest writer process listening there; `ingest_process` is the command line of that
    process when this app starts and supervises it (`vigil serve`'s first HTTP process)."""
    settings = settings or get_settings()
    db = db or Database.from_url(settings.resolved_database_url, pool_size=settings.db_pool_size)
    clock = clock or SystemClock()

    links = LinkConfig(base_url=settings.base_url, secret=settings.resolved_secret_key())
    command_settings = command_config(settings, links)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker: EmbeddedWorker | WorkerProcess | None = None
        writer_process = (
            WorkerProcess(ingest_process, name="ingest writer") if ingest_process else None
        )
        if writer_process is not None:
            writer_process.start()
        if embedded_worker and worker_process:
            worker = WorkerProcess(worker_process)
            app.state.wake = worker.wake
            worker.start()
        elif embedded_worker:
            engine = build_engine(settings, db, clock, command_settings)
            worker = EmbeddedWorker(
                engine,
                interval=settings.worker_interval_seconds,
                listen_url=settings.resolved_database_url if is_postgres(db.engine) else None,
            )
            app.state.wake = engine.wake
            worker.start()
        try:
            yield
        finally:
            app.state.ingest.stop()
            if writer_process is not None:
                writer_process.stop()
            if worker is not None:
                worker.stop()

    app = VigilApp(
        title="Vigil",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state = AppState()
    app.state.settings = settings
    app.state.db = db
    app.state.clock = clock
    app.state.links = links
    app.state.command = command_settings
    app.state.wake = lambda: None
    # Inbound alerts are committed in groups by one writer thread (see integrations/writer.py).
    # On PostgreSQL the commit that starts paging also NOTIFYs every worker, this process's
    # own included; waking it through the pipe as well would only run a second, empty cycle.
    postgres = is_postgres(db.engine)

    def on_paging() -> None:
        if not postgres:
            app.state.wake()

    app.state.inbound_budget = fastlane.InboundBudget(settings.inbound_bytes_in_flight)
    app.state.ingest = (
        RemoteIngestWriter(ingest_socket, on_paging=on_paging)
        if ingest_socket
        else IngestWriter(db, clock, command_settings, on_paging=on_paging)
    )
    install_error_handlers(app)
    for module in (
        health,
        integrations,
        incidents,
        command,
        paging,
        services,
        schedules,
        accounts,
        views,
        link_pages,
    ):
        app.include_router(module.router)
    app.include_router(schedules.feeds)
    install_web(app)
    return app
