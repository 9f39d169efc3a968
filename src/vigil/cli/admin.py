"""Admin commands that act on the configured database: serve, worker, db, demo, token, user."""

from __future__ import annotations

import atexit
import logging
import secrets
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from fastapi import FastAPI

from vigil.accounts import service as accounts
from vigil.accounts.models import Role
from vigil.accounts.schemas import TokenRead, UserCreate, UserRead
from vigil.api.app import build_engine, command_config, create_app
from vigil.cli import ingest_writer as ingest_writer_process
from vigil.cli import processes
from vigil.cli.demo import has_data, seed
from vigil.cli.http_protocol import CoalescingHttpToolsProtocol
from vigil.cli.output import console, print_json, table
from vigil.clock import SystemClock
from vigil.config import Settings, get_settings
from vigil.engine import runner
from vigil.engine.runner import Listener
from vigil.integrations.remote import SOCKET_NAME, make_socket_dir
from vigil.notify.service import LinkConfig
from vigil.services.snippets import integration_urls
from vigil.storage import migrate
from vigil.storage.db import Database, is_postgres
from vigil.web import set_password

KEEP_ALIVE_SECONDS = 100

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
user_app = typer.Typer(help="Users.", no_args_is_help=True)


def _database(settings: Settings, *, check: bool = True) -> Database:
    db = Database.from_url(settings.resolved_database_url, pool_size=settings.db_pool_size)
    if check:
        migrate.check_schema(db.engine)
    return db


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Do not run the engine in this process.")
    ] = False,
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate: serve HTTPS.")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key for --tls-cert.")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    http_processes: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="HTTP processes sharing the port (VIGIL_HTTP_PROCESSES); 0: one per CPU core.",
        ),
    ] = None,
    http_child: Annotated[
        bool,
        typer.Option(
            "--http-child",
            help="Run as an extra HTTP process of `vigil serve`: no worker, stop at end of input.",
            hidden=True,
        ),
    ] = False,
    wake_fd: Annotated[
        int | None,
        typer.Option(help="With --http-child: the pipe that wakes the worker.", hidden=True),
    ] = None,
    ingest_socket: Annotated[
        str | None,
        typer.Option(help="With --http-child: the ingest writer process's socket.", hidden=True),
    ] = None,
) -> None:
    """Serve the API, the integrations and the web UI (with an embedded worker by default)."""
    settings = get_settings()
    if (tls_cert is None) != (tls_key is None):
        raise typer.BadParameter("--tls-cert and --tls-key go together")
    host = host or settings.host
    port = port or settings.port
    count = processes.process_count(
        settings.http_processes if http_processes is None else http_processes
    )
    db = _database(settings)

    def server(app: FastAPI) -> uvicorn.Server:
        return uvicorn.Server(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                ssl_certfile=str(tls_cert) if tls_cert else None,
                ssl_keyfile=str(tls_key) if tls_key else None,
                log_level=log_level,
                access_log=False,
                http=CoalescingHttpToolsProtocol,  # a response leaves in one write
                # Longer than senders keep idle connections (Go's default is 90 s), so a sender
                # never reuses a connection the server is closing at that moment (a failed POST).
                timeout_keep_alive=KEEP_ALIVE_SECONDS,
                timeout_graceful_shutdown=5,
            )
        )

    if http_child:
        app = create_app(settings, db=db, ingest_socket=ingest_socket)
        if wake_fd is not None:
            app.state.wake = processes.wake_through(wake_fd)
        child_server = server(app)
        processes.stop_at_end_of_input(child_server)
        processes.run(child_server, [processes.listen(host, port)])
        return
    worker_argv = None
    if settings.embedded_worker == "process":
        worker_argv = [sys.executable, "-m", "vigil", "worker", "--wake-from-stdin"]
    ingest_argv = None
    if settings.ingest_writer == "process":
        # A directory only this user can enter: the socket carries pickles between our processes.
        socket_dir = make_socket_dir()
        atexit.register(shutil.rmtree, socket_dir, ignore_errors=True)
        ingest_socket = str(socket_dir / SOCKET_NAME)
        ingest_argv = [sys.executable, "-m", "vigil", "ingest-writer", "--socket", ingest_socket]
    app = create_app(
        settings,
        db=db,
        embedded_worker=not no_worker,
        worker_process=worker_argv,
        ingest_socket=ingest_socket,
        ingest_process=ingest_argv,
    )
    primary = server(app)
    if count == 1:
        processes.run(primary)
        return
    sock = processes.listen(host, port)  # first: the children bind the port it got
    argv = [sys.executable, "-m", "vigil", "serve", "--http-child", "--host", host]
    argv += ["--port", str(sock.getsockname()[1]), "--log-level", log_level]
    if tls_cert and tls_key:
        argv += ["--tls-cert", str(tls_cert.resolve()), "--tls-key", str(tls_key.resolve())]
    if ingest_socket:
        argv += ["--ingest-socket", ingest_socket]
    # `app.state.wake` is looked up on each wake-up: the app's startup sets it to the worker's.
    children = processes.HttpProcesses(argv, count - 1, wake=lambda: app.state.wake())
    logging.getLogger("uvicorn.error").info(
        "Vigil serving on %s://%s:%d in %d HTTP processes (Press CTRL+C to quit)",
        "https" if tls_cert else "http",
        host,
        sock.getsockname()[1],
        count,
    )
    children.start()
    try:
        processes.run(primary, [sock])
    finally:
        children.stop()


def worker(
    interval: Annotated[
        float | None, typer.Option(help="Seconds between cycles (VIGIL_WORKER_INTERVAL_SECONDS).")
    ] = None,
    wake_from_stdin: Annotated[
        bool,
        typer.Option(
            "--wake-from-stdin",
            help="Run as `vigil serve`'s embedded worker: wake on input, stop at its end.",
            hidden=True,
        ),
    ] = False,
) -> None:
    """Run the engine alone; run as many as you like on PostgreSQL."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the schema check is not news
    settings = get_settings()
    db = _database(settings)
    clock = SystemClock()
    links = LinkConfig(base_url=settings.base_url, secret=settings.resolved_secret_key())
    engine = build_engine(settings, db, clock, command_config(settings, links))
    listener = Listener(settings.resolved_database_url, engine) if is_postgres(db.engine) else None
    if listener:
        listener.start()
    stop = threading.Event()
    if wake_from_stdin:
        runner.wake_from_stdin(engine, stop)
    else:
        console.print(f"vigil worker {engine.holder} running; Ctrl-C stops it")
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: (stop.set(), engine.wake()))
    processes.freeze_startup_objects()
    engine.run_forever(interval=interval or settings.worker_interval_seconds, stop=stop)
    if listener:
        listener.stop()
    engine.close()


def ingest_writer(
    socket_path: Annotated[
        str, typer.Option("--socket", help="Unix socket to accept the HTTP processes on.")
    ],
) -> None:
    """Run as `vigil serve`'s ingest writer process: commit inbound alerts for its HTTP
    processes; stop at the end of standard input."""
    ingest_writer_process.run(socket_path)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Migrate the database to the latest schema (or to REVISION)."""
    settings = get_settings()
    migrate.upgrade(settings.resolved_database_url, revision)
    console.print(f"database at {migrate.head_revision() if revision == 'head' else revision}")


def demo(
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing when the database has users already.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Seed demo data: a team, three users, two services with keys, and a saved API token."""
    settings = get_settings()
    db = _database(settings)
    now = SystemClock().now()
    with db.unit_of_work() as session:
        if has_data(session):
            if if_empty:
                return
            raise typer.BadParameter("the database has data already; demo seeds an empty one")
        links = LinkConfig(base_url=settings.base_url, secret=settings.resolved_secret_key())
        result = seed(session, now=now, links=links)
        password = secrets.token_urlsafe(12)
        admin = accounts.find_user(session, ref=result.admin_email)
        set_password(session, user_id=admin.id, password=password)
    _save_cli_token(settings, result.token)
    if json_output:
        print_json(
            {
                "token": result.token,
                "admin": result.admin_email,
                "password": password,
                "keys": result.keys,
            }
        )
        return
    console.print("[bold]Demo data created.[/bold]")
    console.print(
        f"Sign in at {settings.base_url.rstrip('/')}/login as {result.admin_email} "
        f"with password {password}",
        soft_wrap=True,
        markup=False,
    )
    console.print(f"API token for {result.admin_email} (shown once, saved for the CLI):")
    console.print(f"  {result.token}")
    for service_name, keys in result.keys.items():
        for kind, key in keys.items():
            url = integration_urls(settings.base_url, key)[kind]
            console.print(
                f"  {service_name} [{kind}] {url}"
                + (f"  key={key}" if kind == "pagerduty" else ""),
                soft_wrap=True,
                markup=False,
            )


def _save_cli_token(settings: Settings, token: str) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.cli_token_file.write_text(token)
    settings.cli_token_file.chmod(0o600)


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option(help="User id, email, or the name before the @.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
    save: Annotated[bool, typer.Option(help="Save it for this machine's CLI.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Create an API token; it is printed once and stored only as a hash."""
    settings = get_settings()
    db = _database(settings)
    with db.unit_of_work() as session:
        owner = accounts.find_user(session, ref=user)
        token, plain = accounts.create_token(
            session, user_id=owner.id, name=name, now=SystemClock().now()
        )
        read = TokenRead.model_validate(token)
    if save:
        _save_cli_token(settings, plain)
    if json_output:
        print_json({**read.model_dump(mode="json"), "token": plain})
    else:
        console.print(plain)


@token_app.command("list")
def token_list(json_output: JsonOption = False) -> None:
    """Every API token (never the token itself)."""
    db = _database(get_settings())
    with db.read_session() as session:
        tokens = [TokenRead.model_validate(t) for t in accounts.list_tokens(session)]
    if json_output:
        print_json([t.model_dump(mode="json") for t in tokens])
        return
    table(
        "API tokens",
        ["id", "user", "name", "prefix", "created", "last used", "revoked"],
        [
            (t.id, t.user_id, t.name, t.prefix + "…", t.created_at, t.last_used_at, t.revoked_at)
            for t in tokens
        ],
    )


@token_app.command("revoke")
def token_revoke(token_id: int, json_output: JsonOption = False) -> None:
    """Revoke a token: requests with it get 401 from now on."""
    db = _database(get_settings())
    with db.unit_of_work() as session:
        token = TokenRead.model_validate(
            accounts.revoke_token(session, token_id=token_id, actor=None, now=SystemClock().now())
        )
    if json_output:
        print_json(token.model_dump(mode="json"))
    else:
        console.print(f"token {token.id} ({token.name}) revoked")


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="Email address (unique).")],
    name: Annotated[str, typer.Option(help="Full name.")],
    role: Annotated[Role, typer.Option(help="admin, responder or observer.")] = Role.RESPONDER,
    time_zone: Annotated[str, typer.Option(help="IANA time zone.")] = "UTC",
    json_output: JsonOption = False,
) -> None:
    """Create a user."""
    db = _database(get_settings())
    with db.unit_of_work() as session:
        data = UserCreate(name=name, email=email, role=role, time_zone=time_zone)
        user = UserRead.model_validate(
            accounts.create_user(session, data=data, now=SystemClock().now())
        )
    if json_output:
        print_json(user.model_dump(mode="json"))
    else:
        console.print(f"user {user.id} {user.email} ({user.role}) created")
