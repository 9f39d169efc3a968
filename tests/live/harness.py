"""The live harness: real `vigil` processes on 127.0.0.1, each installation with its own data
folder and its own database (a file for SQLite, a fresh database for PostgreSQL)."""

from __future__ import annotations

import json
import os
import secrets
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import sqlalchemy as sa
import trustme
from sqlalchemy.engine import make_url

from vigil.storage.db import make_engine

PG_URL = os.environ.get("VIGIL_TEST_DATABASE_URL")
VIGIL = str(Path(sys.executable).with_name("vigil"))
STARTUP_SECONDS = 30.0
CLI_SECONDS = 60.0
T = TypeVar("T")
Cli = Callable[..., subprocess.CompletedProcess[str]]
Runner = Callable[[Sequence[str], dict[str, str]], subprocess.CompletedProcess[str]]


def clean_environ(extra: dict[str, str]) -> dict[str, str]:
    """The test's environment without any VIGIL_* setting (or terminal width) leaking in."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("VIGIL_") and name not in ("COLUMNS", "LINES")
    }
    env.update(extra)
    return env


def run_vigil(
    args: Sequence[str], env: dict[str, str], timeout: float = CLI_SECONDS
) -> subprocess.CompletedProcess[str]:
    """Run the `vigil` console script as a user would, capturing its output."""
    return subprocess.run(
        [VIGIL, *args],
        env=clean_environ(env),
        stdin=subprocess.DEVNULL,  # no terminal anywhere, as in CI or a pipe
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Installation:
    """A data folder and an empty database: what a user has before `vigil db upgrade`."""

    data_dir: Path
    database_url: str

    @property
    def env(self) -> dict[str, str]:
        env = {"VIGIL_DATA_DIR": str(self.data_dir)}
        if not self.database_url.startswith("sqlite"):
            # SQLite installations rely on the default: vigil.db under VIGIL_DATA_DIR.
            env["VIGIL_DATABASE_URL"] = self.database_url
        return env

    def vigil(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_vigil(args, {**self.env, **(env or {})})


@dataclass(frozen=True)
class Deployment(Installation):
    """A migrated installation seeded by `vigil demo`: its admin token and integration keys."""

    token: str = ""
    keys: dict[str, dict[str, str]] = field(default_factory=dict)

    def query(self, statement: sa.Select[Any]) -> list[sa.Row[Any]]:
        """Read the database directly, for rows no API shows (change events)."""
        engine = make_engine(self.database_url, pool_size=1)
        try:
            with engine.connect() as conn:
                return list(conn.execute(statement))
        finally:
            engine.dispose()


class DatabaseFactory:
    """Creates empty installations for one backend and drops their PostgreSQL databases."""

    def __init__(self, backend: str, root: Path) -> None:
        self.backend = backend
        self.root = root
        self._created: list[str] = []

    def create(self) -> Installation:
        name = f"vigil_live_{secrets.token_hex(6)}"
        data_dir = self.root / name
        data_dir.mkdir(parents=True)
        if self.backend == "sqlite":
            return Installation(data_dir, f"sqlite:///{(data_dir / 'vigil.db').resolve()}")
        assert PG_URL is not None
        with self._admin() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        self._created.append(name)
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        return Installation(data_dir, url)

    def drop_all(self) -> None:
        for name in self._created:
            with self._admin() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._created.clear()

    @contextmanager
    def _admin(self) -> Iterator[sa.Connection]:
        # Connect to the configured database only to run CREATE/DROP DATABASE; no rows land there.
        assert PG_URL is not None
        engine = sa.create_engine(PG_URL, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            engine.dispose()

    def deploy(self, run: Runner = run_vigil) -> Deployment:
        """A new installation after `vigil db upgrade` and `vigil demo --json`."""
        installation = self.create()
        upgraded = run(["db", "upgrade"], installation.env)
        assert upgraded.returncode == 0, upgraded.stderr
        demo = run(["demo", "--json"], installation.env)
        assert demo.returncode == 0, demo.stderr
        seeded = json.loads(demo.stdout)
        return Deployment(
            installation.data_dir,
            installation.database_url,
            token=seeded["token"],
            keys=seeded["keys"],
        )


@dataclass
class LiveProcess:
    """A running `vigil serve` or `vigil worker`; `url` is empty for a worker."""

    process: subprocess.Popen[bytes]
    log: Path
    url: str = ""

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@dataclass(frozen=True)
class Tls:
    """A throwaway certificate authority and a certificate for 127.0.0.1, made by trustme."""

    cert: Path
    key: Path
    ca: Path

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def make_tls(folder: Path) -> Tls:
    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    tls = Tls(cert=folder / "server.pem", key=folder / "server.key", ca=folder / "ca.pem")
    issued.cert_chain_pems[0].write_to_path(str(tls.cert))
    issued.private_key_pem.write_to_path(str(tls.key))
    ca.cert_pem.write_to_path(str(tls.ca))
    return tls


class Processes:
    """Starts servers and workers, and stops every one of them (by its own handle) at the end."""

    def __init__(self) -> None:
        self._running: list[LiveProcess] = []

    def serve(
        self,
        installation: Installation,
        *flags: str,
        tls: Tls | None = None,
        env: dict[str, str] | None = None,
    ) -> LiveProcess:
        """`vigil serve` on a free port, returned once /healthz answers."""
        live = self.spawn_server(installation, *flags, tls=tls, env=env)
        self.wait_ready(live, tls=tls)
        return live

    def spawn_server(
        self,
        installation: Installation,
        *flags: str,
        tls: Tls | None = None,
        env: dict[str, str] | None = None,
    ) -> LiveProcess:
        """`vigil serve` on a free port, not yet waited for (start several side by side); `env`
        adds settings."""
        port = free_port()
        url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        args = ["serve", "--port", str(port), "--log-level", "warning", *flags]
        if tls:
            args += ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)]
        live = self._spawn(
            installation, args, {"VIGIL_BASE_URL": url, **(env or {})}, f"serve-{port}"
        )
        live.url = url
        return live

    def wait_ready(self, live: LiveProcess, *, tls: Tls | None = None) -> None:
        verify: ssl.SSLContext | bool = tls.context() if tls else True
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if live.process.poll() is not None:
                pytest.fail(f"vigil serve exited with {live.process.returncode}:\n{live.output()}")
            try:
                if httpx.get(f"{live.url}/healthz", verify=verify, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vigil serve did not answer /healthz:\n{live.output()}")
            time.sleep(0.05)

    def worker(self, installation: Installation) -> LiveProcess:
        """`vigil worker`; it has no port, so callers watch for its effects."""
        return self._spawn(installation, ["worker"], {}, "worker")

    def _spawn(
        self, installation: Installation, args: list[str], env: dict[str, str], name: str
    ) -> LiveProcess:
        log = installation.data_dir / f"{name}-{secrets.token_hex(3)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [VIGIL, *args],
                env=clean_environ({**installation.env, **env}),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        live = LiveProcess(process, log)
        self._running.append(live)
        return live

    def stop_all(self) -> None:
        # Signal every process first so they shut down side by side, then wait for each.
        for live in self._running:
            if live.process.poll() is None:
                live.process.terminate()
        while self._running:
            self._running.pop().stop()


def poll(check: Callable[[], T | None], *, within: float = 15.0, what: str = "the condition") -> T:
    """Call `check` until it returns something, failing after `within` seconds.

    A bound on waiting, not a timing assertion: it only turns a hang into a clear failure.
    """
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what} after {within} s")
        time.sleep(0.1)


def create_service(api: httpx.Client, **fields: Any) -> dict[str, Any]:
    """A new service through the REST API, with a unique name unless one is given."""
    body = {"name": f"live-{secrets.token_hex(4)}", **fields}
    response = api.post("/api/v1/services", json=body)
    assert response.status_code == 201, response.text
    service: dict[str, Any] = response.json()
    return service


def key_of(service: dict[str, Any], kind: str) -> str:
    key: str = next(k["key"] for k in service["integration_keys"] if k["type"] == kind)
    return key


def alerts_of(api: httpx.Client, service: str | int) -> list[dict[str, Any]]:
    """Every alert of a service (the REST API pages at 200)."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"service": service, "limit": 200}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/api/v1/alerts", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            return items


def incidents_of(api: httpx.Client, service: str | int) -> list[dict[str, Any]]:
    page = api.get("/api/v1/incidents", params={"service": service, "limit": 200})
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return items


def incident(api: httpx.Client, number: int) -> dict[str, Any]:
    response = api.get(f"/api/v1/incidents/{number}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found
