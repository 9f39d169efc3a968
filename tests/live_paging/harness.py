"""The paging harness: real `vigil serve` and `vigil worker` processes over one fresh database,
and the real receivers they page (an HTTP server for push webhooks, an SMTP server for email).

Every installation gets its own data folder and its own database (a SQLite file, or a PostgreSQL
database created next to the one VIGIL_TEST_DATABASE_URL names and dropped afterwards), because
these processes commit rows the transactional tests must never see.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.engine import make_url

from vigil.cli.demo import seed
from vigil.clock import SystemClock
from vigil.notify.service import LinkConfig
from vigil.storage import migrate
from vigil.storage.db import Database

PG_URL = os.environ.get("VIGIL_TEST_DATABASE_URL")
VIGIL = str(Path(sys.executable).with_name("vigil"))
STARTUP_SECONDS = 60.0
CODE = re.compile(r"verification code is (\d{6})")
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def poll(check: Callable[[], T | None], *, within: float, what: str) -> T:
    """Call `check` until it returns something other than None, failing after `within` seconds.

    A bound on waiting that turns a hang into a clear failure, not a timing assertion.
    """
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what} after {within:g} s")
        time.sleep(0.05)


# --- installations -------------------------------------------------------------------------


@dataclass(frozen=True)
class Installation:
    """A migrated data folder and database seeded with the demo, with the admin's token and the
    key that signs notification links."""

    data_dir: Path
    database_url: str
    token: str
    secret_key: str

    @property
    def env(self) -> dict[str, str]:
        return {
            "VIGIL_DATA_DIR": str(self.data_dir),
            "VIGIL_DATABASE_URL": self.database_url,
            "VIGIL_SECRET_KEY": self.secret_key,
        }

    def rows(self, statement: str, **params: Any) -> list[sa.Row[Any]]:
        """Read straight from the database, for rows no API shows (the outbox)."""
        engine = sa.create_engine(self.database_url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                return list(conn.execute(sa.text(statement), params))
        finally:
            engine.dispose()


def clean_environ(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without any VIGIL_* setting leaking into a child."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(extra)
    return env


@contextmanager
def installation(backend: str, root: Path) -> Iterator[Installation]:
    """A fresh installation on `backend` ("sqlite" or "postgresql"), dropped on exit.

    Migrating and seeding run in this process (what `vigil db upgrade` and `vigil demo` do): they
    are setup, not the subject, and each `vigil` start costs seconds on a busy machine.
    """
    name = f"vigil_paging_{secrets.token_hex(5)}"
    data_dir = root / name
    data_dir.mkdir(parents=True)
    if backend == "sqlite":
        url = f"sqlite:///{(data_dir / 'vigil.db').resolve()}"
    else:
        assert PG_URL is not None
        _pg_admin(f'CREATE DATABASE "{name}"')
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        secret = secrets.token_urlsafe(32)
        migrate.upgrade(url)
        db = Database.from_url(url, pool_size=1)
        try:
            with db.unit_of_work() as session:
                links = LinkConfig(base_url="http://127.0.0.1", secret=secret)
                demo = seed(session, now=SystemClock().now(), links=links)
        finally:
            db.dispose()
        yield Installation(data_dir, url, demo.token, secret)
    finally:
        if backend != "sqlite":
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_admin(statement: str) -> None:
    # Connects to the configured database only to create or drop ours; no rows land there.
    assert PG_URL is not None
    engine = sa.create_engine(PG_URL, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


# --- processes -------------------------------------------------------------------------------


@dataclass
class Live:
    """A running `vigil serve` or `vigil worker`."""

    process: subprocess.Popen[bytes]
    log: Path
    url: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill_hard(self) -> None:
        """SIGKILL: no cleanup, no chance to record what it was sending."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


class Processes:
    """Starts servers and workers on one installation and stops each by its own handle."""

    def __init__(self, install: Installation, env: dict[str, str]) -> None:
        self.install = install
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Workers sign links too, so they must agree with the server on where people reach it.
        self.env = {**install.env, "VIGIL_BASE_URL": self.url, **env}
        self._running: list[Live] = []

    def serve(self, *flags: str) -> Live:
        """`vigil serve` on this installation's port, returned once /healthz answers."""
        args = ["serve", "--port", str(self.port), "--log-level", "warning", *flags]
        live = self._spawn(args, "serve")
        live.url = self.url
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if live.process.poll() is not None:
                pytest.fail(f"vigil serve exited with {live.process.returncode}:\n{live.output()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return live
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vigil serve did not answer /healthz:\n{live.output()}")
            time.sleep(0.05)

    def worker(self) -> Live:
        return self._spawn(["worker"], "worker")

    def _spawn(self, args: list[str], name: str) -> Live:
        log = self.install.data_dir / f"{name}-{secrets.token_hex(3)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [VIGIL, *args], env=clean_environ(self.env), stdout=out, stderr=subprocess.STDOUT
            )
        live = Live(process, log)
        self._running.append(live)
        return live

    def stop_all(self) -> None:
        for live in self._running:
            if live.process.poll() is None:
                live.process.terminate()
        for live in self._running:
            try:
                live.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                live.process.kill()
                live.process.wait(timeout=10)
        self._running.clear()


# --- receivers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One request as the receiver saw it."""

    path: str
    idempotency_key: str
    body: dict[str, Any]


@dataclass
class PushReceiver:
    """A push service on 127.0.0.1 that records every request's Idempotency-Key on arrival.

    `delay` makes it slow (seconds per request, after recording), so sends are still in flight
    when a worker is killed.
    """

    delay: float = 0.0
    deliveries: list[Delivery] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                delivery = Delivery(
                    self.path, self.headers.get("Idempotency-Key", ""), json.loads(raw)
                )
                with receiver._lock:
                    receiver.deliveries.append(delivery)
                try:
                    if receiver.delay:
                        time.sleep(receiver.delay)
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except OSError:
                    pass  # the sender died while we slept: the request still arrived

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, name="push-receiver", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def at(self, path: str) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if d.path == path]

    def pages(self, path: str) -> list[Delivery]:
        return [d for d in self.at(path) if d.body.get("kind") == "page"]

    def page_counts(self, path: str) -> Counter[str]:
        return Counter(d.idempotency_key for d in self.pages(path))


class Inbox:
    """aiosmtpd handler: keeps every message it accepts, parsed."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [message for rcpts, message in self.messages if address in rcpts]


@contextmanager
def smtp_server() -> Iterator[tuple[int, Inbox]]:
    """A real SMTP server on 127.0.0.1 (no TLS, no auth), yielding its port and inbox."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


# --- REST helpers --------------------------------------------------------------------------


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


def paged_service(api: httpx.Client, *, user_id: int, name: str) -> tuple[int, str]:
    """A policy paging `user_id` alone, and a service on it with one incident per alert; returns
    the service id and its generic integration key."""
    policy = created(
        api.post(
            "/api/v1/escalation-policies",
            json={
                "name": f"{name} policy",
                "levels": [{"targets": [{"type": "user", "id": user_id}], "delay_minutes": 5}],
                "repeat": 0,
            },
        )
    )
    service = created(
        api.post(
            "/api/v1/services",
            json={
                "name": name,
                "grouping_mode": "none",
                "escalation_policy_id": policy["id"],
                "integration_types": ["generic"],
            },
        )
    )
    key = next(k["key"] for k in service["integration_keys"] if k["type"] == "generic")
    return service["id"], key


def new_user(api: httpx.Client, name: str) -> dict[str, Any]:
    email_address = f"{name.lower().replace(' ', '.')}-{secrets.token_hex(3)}@example.com"
    return created(api.post("/api/v1/users", json={"name": name, "email": email_address}))


def verification_code(text: str) -> str | None:
    found = CODE.search(text)
    return found.group(1) if found else None
