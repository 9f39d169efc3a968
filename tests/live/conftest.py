"""Live fixtures: real `vigil` processes on 127.0.0.1 over SQLite and, when
VIGIL_TEST_DATABASE_URL is set, PostgreSQL.

Each PostgreSQL installation gets a fresh database created next to the one VIGIL_TEST_DATABASE_URL
names, dropped at the end: the other tests roll back their transactions in that database and must
never see the rows these servers commit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence

import httpx
import pytest

from tests.live.harness import (
    PG_URL,
    Cli,
    DatabaseFactory,
    Deployment,
    LiveProcess,
    Processes,
    Runner,
    Tls,
    make_tls,
)
from vigil.cli.main import main
from vigil.config import get_settings


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def live_backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql" and not PG_URL:
        pytest.skip("PostgreSQL skipped: VIGIL_TEST_DATABASE_URL is not set")
    backend: str = request.param
    return backend


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip @pytest.mark.postgres_only live tests on SQLite before any server starts for them."""
    skip = pytest.mark.skip(reason="PostgreSQL only: several servers share one database there")
    for item in items:
        callspec = getattr(item, "callspec", None)
        if (
            item.get_closest_marker("postgres_only")
            and callspec is not None
            and callspec.params.get("live_backend") == "sqlite"
        ):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def databases(
    live_backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(live_backend, tmp_path_factory.mktemp(f"live-{live_backend}"))
    yield factory
    factory.drop_all()


@pytest.fixture(scope="session")
def session_processes(live_backend: str) -> Iterator[Processes]:
    """Processes shared by the tests of one backend, stopped before the next backend's start."""
    processes = Processes()
    yield processes
    processes.stop_all()


@pytest.fixture
def processes() -> Iterator[Processes]:
    """Processes started by one test, stopped when it ends."""
    started = Processes()
    yield started
    started.stop_all()


@pytest.fixture(scope="session")
def deployment(databases: DatabaseFactory) -> Deployment:
    """The installation shared by the live tests that do not need an empty one."""
    return databases.deploy()


@pytest.fixture(scope="session")
def server(deployment: Deployment, session_processes: Processes) -> LiveProcess:
    """`vigil serve` (with its embedded worker) on the shared deployment."""
    return session_processes.serve(deployment)


@pytest.fixture
def api(server: LiveProcess, deployment: Deployment) -> Iterator[httpx.Client]:
    """An admin's REST client for the shared server."""
    headers = {"Authorization": f"Bearer {deployment.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Runner:
    """Run `vigil` commands in this process: the console script's entry point and environment
    variables, without the second a fresh Python spends importing Vigil.

    For commands whose subject is not the process itself; error lines and exit codes, `serve` and
    `worker` go through real processes.
    """

    def run(args: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        with monkeypatch.context() as patch:
            for name in [n for n in os.environ if n.startswith("VIGIL_")]:
                patch.delenv(name)
            for name, value in env.items():
                patch.setenv(name, value)
            # Rich would measure this process's terminal; a real run into a pipe gets 80 columns.
            patch.setenv("COLUMNS", "80")
            patch.setattr(sys, "argv", ["vigil", *args])
            get_settings.cache_clear()
            try:
                main()
                code: int = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            finally:
                get_settings.cache_clear()
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["vigil", *args], code, out, err)

    return run


@pytest.fixture
def cli(deployment: Deployment, server: LiveProcess, in_process: Runner) -> Cli:
    """Everyday `vigil` commands against the shared server, run in this process."""

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return in_process(args, {**deployment.env, "VIGIL_URL": server.url, **(env or {})})

    return run


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))
