"""A real Vigil server for browser tests and screenshots: uvicorn on 127.0.0.1 in a thread, over a
fresh SQLite file seeded with the demo, with the console installed and the demo admin given a
password."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
import uvicorn

from vigil.accounts.models import User
from vigil.api.app import create_app
from vigil.cli.demo import DemoResult, seed
from vigil.clock import SystemClock
from vigil.config import Settings
from vigil.notify.service import LinkConfig
from vigil.storage import migrate
from vigil.storage.db import Database
from vigil.web import install, set_password

ADMIN_PASSWORD = "demo-admin-password"
STARTUP_SECONDS = 30.0


@dataclass(frozen=True)
class LiveServer:
    url: str
    secret: str
    demo: DemoResult
    db: Database

    @property
    def admin_email(self) -> str:
        return self.demo.admin_email


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def live_server(data_dir: Path) -> Iterator[LiveServer]:
    """Serve until the block ends; open event streams are cut after a short grace period."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    settings = Settings(data_dir=data_dir, base_url=url, secret_key="browser-test-secret")
    database_url = settings.resolved_database_url
    data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(database_url)
    db = Database.from_url(database_url)
    clock = SystemClock()
    with db.unit_of_work() as session:
        demo = seed(
            session,
            now=clock.now(),
            links=LinkConfig(base_url=url, secret=settings.resolved_secret_key()),
        )
        admin = session.scalar(sa.select(User).where(User.email == demo.admin_email))
        assert admin is not None
        set_password(session, user_id=admin.id, password=ADMIN_PASSWORD)
    app = create_app(settings, db=db, clock=clock)
    install(app)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="vigil-live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the Vigil test server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(url=url, secret=settings.resolved_secret_key(), demo=demo, db=db)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        db.dispose()
