"""Paging benchmark: how long from an alert's POST to the first page at the on-call person's phone.

It starts Vigil on a fresh database (SQLite and/or PostgreSQL) with one embedded worker, or on
PostgreSQL `vigil serve --no-worker` plus two `vigil worker` processes, and a webhook receiver of
its own on 127.0.0.1 (a separate process that timestamps every arrival). A user whose verified
`push` contact method points at the receiver is the only target of the service's policy; the
service has grouping_mode "none", so every alert opens its own incident and pages once.

Alert to first notification: Alertmanager webhooks (one alert each) are fired open loop at 10,
100 and 500 new alerts/s for a fixed time; latency runs from each alert's scheduled send time
(so a slow server cannot hide its backlog) to the first page for its incident at the receiver.
The database's own timestamps split it into ingest, wake-up and sending. When Debian's
prometheus-alertmanager is installed, the same alerts are posted to an Alertmanager
(group_wait 0s, group_by ['...']) whose webhook receiver is the same receiver, and the ratio of
the two latencies is printed.

Escalation lateness: N open, unacknowledged incidents (10,000 by default, posted to the generic
integration) on a policy whose level 1 pages nobody and waits one minute, and whose level 2 pages
the receiver; lateness is each level-2 page's arrival minus its due time (the escalation's
`next_at`, read from the database once level 1 has fired everywhere). By default the incidents
are opened evenly over 60 s, so their level-2 steps fall due evenly over a minute: the steady
state of 10,000 open incidents on a policy that escalates every minute (167 steps/s).
`--lateness-open-seconds 0` opens them as fast as the server takes them (batches of 500), so
every step falls due within a few seconds: a burst, which measures paging throughput instead.

    .venv/bin/python bench/paging.py --database both            # the full run (about 10 minutes)
    .venv/bin/python bench/paging.py --quick                     # smoke run, under 90 s
    .venv/bin/python bench/paging.py --only lateness --database postgresql
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import sqlalchemy as sa

from procstat import cpu_seconds, process_tree

ROOT = Path(__file__).resolve().parent.parent
VIGIL = ROOT / ".venv" / "bin" / "vigil"
PY_SPY = ROOT / ".venv" / "bin" / "py-spy"
DEFAULT_PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TARGET_RATE = 100  # the targets below hold at 100 new alerts/s
TARGET_P50_MS = 50.0
TARGET_P99_MS = 250.0
TARGET_LATENESS_P99_MS = 1000.0
MAX_CONNECTIONS = 256  # open loop, but bounded: a stalled server queues at most this many
LATENESS_BATCH = 500
LATENESS_PACED_BATCH = 20

# ---------------------------------------------------------------------------------------------
# Statistics


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class Spread:
    """p50 / p99 / max of a list of milliseconds."""

    n: int = 0
    p50: float = float("nan")
    p99: float = float("nan")
    max: float = float("nan")

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        if not values:
            return cls()
        return cls(len(values), percentile(values, 50), percentile(values, 99), max(values))

    def text(self) -> str:
        return f"{self.p50:.1f} / {self.p99:.1f} / {self.max:.1f}" if self.n else "-"


# ---------------------------------------------------------------------------------------------
# The webhook receiver: its own process, so the arrival timestamps do not wait for this one's GIL.


def _reduce(path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """What the benchmark needs from one arrival (not the whole body: 10,000s are kept)."""
    record: dict[str, Any] = {"t": time.time(), "path": path, "key": headers.get("idempotency-key")}
    try:
        data = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return record
    if isinstance(data, dict) and "alerts" in data:  # Alertmanager's webhook
        record["am"] = [
            [a.get("labels", {}).get("bench_run"), a.get("labels", {}).get("bench_seq")]
            for a in data["alerts"]
        ]
    elif isinstance(data, dict):  # Vigil's webhook body, version 1
        incident = data.get("incident") or {}
        record.update(
            kind=data.get("kind"),
            number=incident.get("number"),
            title=incident.get("title"),
            text=data.get("body") if data.get("kind") == "test" else None,
        )
    return record


async def _read_request(
    reader: asyncio.StreamReader,
) -> tuple[str, str, dict[str, str], bytes] | None:
    """One HTTP/1.1 request (Content-Length or chunked body); None when the peer closed."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = b""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    elif "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    return method, target, headers, body


def receiver_main(port: int) -> None:
    """Serve until stdin closes: POST anything (recorded), GET /_arrivals?from=N (the records)."""
    records: list[dict[str, Any]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                method, target, headers, body = request
                parts = urlsplit(target)
                if method == "GET" and parts.path == "/_arrivals":
                    start = int(parse_qs(parts.query).get("from", ["0"])[0])
                    payload = orjson.dumps(records[start:])
                    content_type = b"application/json"
                else:
                    records.append(_reduce(parts.path, headers, body))
                    payload, content_type = b"ok", b"text/plain"
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: "
                    + content_type
                    + b"\r\nContent-Length: "
                    + str(len(payload)).encode()
                    + b"\r\n\r\n"
                    + payload
                )
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, asyncio.CancelledError):
            pass  # a peer that went away, or this receiver shutting down
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
        print("ready", flush=True)
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        threading.Thread(
            target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stopped.set)),
            daemon=True,
        ).start()
        async with server:
            await stopped.wait()

    asyncio.run(main())


class Receiver:
    """The receiver process, seen from here: start it, read what arrived."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[str] | None = None
        self.records: list[dict[str, Any]] = []
        self._client = httpx.Client(timeout=30)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--receiver", str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the webhook receiver did not start")

    def poll(self) -> list[dict[str, Any]]:
        """Fetch the arrivals not seen yet; returns only those."""
        fresh: list[dict[str, Any]] = self._client.get(
            f"{self.url}/_arrivals", params={"from": len(self.records)}
        ).json()
        self.records.extend(fresh)
        return fresh

    def wait_for(
        self, match: Callable[[dict[str, Any]], bool], *, count: int = 1, timeout: float = 30
    ) -> list[dict[str, Any]]:
        """Poll until `count` arrivals satisfy `match` (or the timeout); returns those seen."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            found = [r for r in self.records if match(r)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.1)

    def stop(self) -> None:
        self._client.close()
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------------------------------
# An open-loop HTTP client: raw HTTP/1.1 on asyncio streams, a few microseconds of CPU per request,
# so the 2-core machine spends its time on the servers being measured.


class Pool:
    """Keep-alive connections to one host, at most `limit` at once."""

    def __init__(self, host: str, port: int, limit: int = MAX_CONNECTIONS) -> None:
        self.host, self.port = host, port
        self.idle: deque[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = deque()
        self.slots = asyncio.Semaphore(limit)

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        async with self.slots:
            if self.idle:
                reader, writer = self.idle.pop()
            else:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            try:
                head = (
                    f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                )
                writer.write(head.encode() + body)
                status, headers, payload = await self._response(reader)
            except BaseException:
                writer.close()
                raise
            if headers.get("connection", "").lower() == "close":
                writer.close()
            else:
                self.idle.append((reader, writer))
            return status, payload

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers = {}
        for line in head[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await reader.readline()).split(b";")[0], 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    break
                body += chunk[:-2]
        elif "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        return status, headers, body

    def close(self) -> None:
        while self.idle:
            self.idle.pop()[1].close()


@dataclass(slots=True)
class Shot:
    """One fired alert: when it was due to go out, when it did, and the answer."""

    seq: int
    due: float  # wall clock (time.time()) of its slot in the schedule
    sent: float = 0.0
    answered: float = 0.0
    status: int = 0
    error: str = ""


async def _fire(
    url: str, path: str, body_for: Callable[[int], bytes], rate: float, duration: float
) -> list[Shot]:
    parts = urlsplit(url)
    pool = Pool(parts.hostname or "127.0.0.1", parts.port or 80)
    shots = [Shot(seq=i, due=0.0) for i in range(max(1, round(rate * duration)))]
    bodies = [body_for(shot.seq) for shot in shots]

    async def one(shot: Shot) -> None:
        shot.sent = time.time()
        try:
            shot.status, answer = await asyncio.wait_for(pool.post(path, bodies[shot.seq]), 60)
            if shot.status >= 300:
                shot.error = answer[:200].decode(errors="replace")
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            shot.error = f"{type(exc).__name__}: {exc}"
        shot.answered = time.time()

    start = time.time() + 0.05
    tasks = []
    for shot in shots:
        shot.due = start + shot.seq / rate
        wait = shot.due - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(one(shot)))
    await asyncio.gather(*tasks)
    pool.close()
    return shots


def fire(
    url: str, path: str, body_for: Callable[[int], bytes], *, rate: float, duration: float
) -> list[Shot]:
    """POST `rate` × `duration` bodies open loop, each at its own slot whatever the answers."""
    return asyncio.run(_fire(url, path, body_for, rate, duration))


def am_webhook_body(run: str, seq: int) -> bytes:
    """One new firing alert as Alertmanager's webhook carries it (tests/payloads.py's shape)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    labels = {
        "alertname": "BenchPage",
        "instance": f"host-{seq}:9100",
        "job": "node",
        "severity": "critical",
        "bench_run": run,
        "bench_seq": str(seq),
    }
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": {"summary": f"bench {run} {seq}", "description": "bench/paging.py"},
        "startsAt": now,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
        "fingerprint": f"{uuid.uuid4().hex[:16]}",
    }
    return orjson.dumps(
        {
            "version": "4",
            "groupKey": f'{{}}:{{bench_run="{run}",bench_seq="{seq}"}}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "vigil",
            "groupLabels": labels,
            "commonLabels": labels,
            "commonAnnotations": alert["annotations"],
            "externalURL": "http://alertmanager:9093",
            "alerts": [alert],
        }
    )


def am_api_body(run: str, seq: int) -> bytes:
    """The same alert as Prometheus posts it to Alertmanager's /api/v2/alerts."""
    return orjson.dumps(
        [
            {
                "labels": {
                    "alertname": "BenchPage",
                    "instance": f"host-{seq}:9100",
                    "job": "node",
                    "severity": "critical",
                    "bench_run": run,
                    "bench_seq": str(seq),
                },
                "annotations": {"summary": f"bench {run} {seq}"},
                "startsAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            }
        ]
    )


# ---------------------------------------------------------------------------------------------
# Servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer {url} within {timeout:.0f} s")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Vigil:
    """Vigil on a fresh database: `vigil serve` with its embedded worker, or (workers > 1)
    `vigil serve --no-worker` and that many `vigil worker` processes; plus the paging setup."""

    def __init__(
        self,
        database: str,
        workers: int,
        workdir: Path,
        pg_admin_url: str,
        receiver: Receiver,
        worker_interval: float | None,
        src: Path | None = None,
    ) -> None:
        self.database = database
        self.workers = workers
        self.workdir = Path(tempfile.mkdtemp(prefix=f"vigil-{database}-w{workers}-", dir=workdir))
        self.pg_admin_url = pg_admin_url
        self.pg_name = f"vigil_paging_bench_{os.getpid()}"
        self.receiver = receiver
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
        self.env["VIGIL_DATA_DIR"] = str(self.workdir)
        self.env["VIGIL_BASE_URL"] = self.base_url
        if src is not None:  # benchmark another checkout (e.g. `git archive HEAD`) with this venv
            self.env["PYTHONPATH"] = str(src)
        if worker_interval is not None:
            self.env["VIGIL_WORKER_INTERVAL_SECONDS"] = str(worker_interval)
        if database == "postgresql":
            url = sa.make_url(pg_admin_url).set(database=self.pg_name)
            self.url = url.render_as_string(hide_password=False)
            self.env["VIGIL_DATABASE_URL"] = self.url
        else:
            self.url = f"sqlite:///{self.workdir / 'vigil.db'}"
        self.serve: subprocess.Popen[bytes] | None = None
        self.worker_procs: list[subprocess.Popen[bytes]] = []
        self.engine: sa.Engine | None = None
        self.api: httpx.Client | None = None
        self.keys: dict[str, str] = {}
        self.service_id = 0
        self.user_id = 0
        self.page_path = ""  # the receiver path of this stack's pages (numbers restart per DB)

    @property
    def label(self) -> str:
        return f"{self.database}, {self.workers} worker{'s' if self.workers > 1 else ''}"

    def pids(self) -> list[int]:
        """Every Vigil process, with `vigil serve`'s worker child."""
        roots = [p.pid for p in [self.serve, *self.worker_procs] if p is not None]
        return [pid for root in roots for pid in process_tree(root)]

    def _admin(self, statement: str) -> None:
        admin = sa.create_engine(self.pg_admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(statement)
        admin.dispose()

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log = (self.workdir / log_name).open("ab")
        return subprocess.Popen(
            [str(VIGIL), *args], env=self.env, cwd=self.workdir, stdout=log, stderr=log
        )

    def start(self, *, two_levels: bool) -> None:
        """Database, demo data, server and workers, then the paged user, policy and service."""
        if self.database == "postgresql":
            self._admin(f"DROP DATABASE IF EXISTS {self.pg_name} WITH (FORCE)")
            self._admin(f"CREATE DATABASE {self.pg_name}")
        run = {"env": self.env, "check": True, "capture_output": True, "cwd": self.workdir}
        subprocess.run([str(VIGIL), "db", "upgrade"], **run)  # type: ignore[call-overload]
        demo = subprocess.run([str(VIGIL), "demo", "--json"], **run)  # type: ignore[call-overload]
        token = json.loads(demo.stdout)["token"]
        serve = ["serve", "--port", str(self.port), "--log-level", "warning"]
        if self.workers > 1:
            serve.append("--no-worker")
        self.serve = self._spawn(serve, "serve.log")
        wait_http(f"{self.base_url}/healthz", self.serve, "vigil serve")
        if self.workers > 1:
            self.worker_procs = [
                self._spawn(["worker"], f"worker-{n}.log") for n in range(self.workers)
            ]
        self.engine = sa.create_engine(self.url)
        self.api = httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        self._setup(two_levels=two_levels)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert self.api is not None
        response = self.api.post(path, json=body)
        if response.status_code >= 300:
            raise RuntimeError(f"POST {path}: {response.status_code} {response.text}")
        data: dict[str, Any] = response.json()
        return data

    def _setup(self, *, two_levels: bool) -> None:
        tag = uuid.uuid4().hex[:6]
        user = self._post(
            "/api/v1/users", {"name": "Paged Person", "email": f"paged-{tag}@bench.example"}
        )
        self.user_id = user["id"]
        self.page_path = f"/page/{tag}"
        address = f"{self.receiver.url}{self.page_path}"
        method = self._post(
            f"/api/v1/users/{self.user_id}/contact-methods", {"kind": "push", "address": address}
        )
        found = self.receiver.wait_for(
            lambda r: r["path"] == f"/page/{tag}" and r.get("kind") == "test", timeout=30
        )
        code = re.search(r"\b(\d{6})\b", (found[0].get("text") or "") if found else "")
        if code is None:
            raise RuntimeError("the verification message never reached the receiver")
        self._post(
            f"/api/v1/users/{self.user_id}/contact-methods/{method['id']}/verify",
            {"code": code.group(1)},
        )
        if two_levels:
            # Level 1 pages a person with no contact methods (so nothing is sent) and waits the
            # shortest delay a policy allows; level 2 pages the receiver.
            quiet = self._post(
                "/api/v1/users", {"name": "Quiet Person", "email": f"quiet-{tag}@bench.example"}
            )
            levels = [
                {"targets": [{"type": "user", "id": quiet["id"]}], "delay_minutes": 1},
                {"targets": [{"type": "user", "id": self.user_id}], "delay_minutes": 1},
            ]
        else:
            levels = [{"targets": [{"type": "user", "id": self.user_id}], "delay_minutes": 30}]
        policy = self._post(
            "/api/v1/escalation-policies", {"name": f"bench-{tag}", "levels": levels}
        )
        service = self._post(
            "/api/v1/services",
            {
                "name": f"bench-paging-{tag}",
                "grouping_mode": "none",
                "escalation_policy_id": policy["id"],
                "integration_types": ["alertmanager", "generic"],
            },
        )
        self.service_id = service["id"]
        self.keys = {k["type"]: k["key"] for k in service["integration_keys"]}

    def alive(self) -> str | None:
        for proc in [self.serve, *self.worker_procs]:
            if proc is not None and proc.poll() is not None:
                return f"{proc.args} exited with {proc.returncode}"
        return None

    def log_tail(self, lines: int = 20) -> str:
        out = []
        for path in sorted(self.workdir.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(out)

    def stop(self) -> None:
        for proc in self.worker_procs:
            stop_process(proc)
        if self.serve is not None:
            stop_process(self.serve)
        if self.api is not None:
            self.api.close()
        if self.engine is not None:
            self.engine.dispose()
        if self.database == "postgresql":
            self._admin(f"DROP DATABASE IF EXISTS {self.pg_name} WITH (FORCE)")


class Alertmanager:
    """Alertmanager on a loopback port: every alert its own group, flushed at once, to the
    receiver's /am webhook."""

    def __init__(self, binary: str, workdir: Path, receiver: Receiver) -> None:
        self.binary = binary
        self.workdir = Path(tempfile.mkdtemp(prefix="alertmanager-", dir=workdir))
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.receiver = receiver
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        config = self.workdir / "alertmanager.yml"
        config.write_text(
            "route:\n"
            "  receiver: bench\n"
            "  group_by: ['...']\n"
            "  group_wait: 0s\n"
            "  group_interval: 5m\n"
            "  repeat_interval: 4h\n"
            "receivers:\n"
            "  - name: bench\n"
            "    webhook_configs:\n"
            f"      - url: {self.receiver.url}/am\n"
            "        send_resolved: false\n"
        )
        log = (self.workdir / "alertmanager.log").open("wb")
        self.proc = subprocess.Popen(
            [
                self.binary,
                f"--config.file={config}",
                f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_http(f"{self.base_url}/-/ready", self.proc, "alertmanager")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


def alertmanager_binary() -> str | None:
    return shutil.which("alertmanager") or shutil.which("prometheus-alertmanager")


def alertmanager_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    text = (out.stdout or out.stderr).splitlines()
    return text[0] if text else "unknown"


# ---------------------------------------------------------------------------------------------
# Measurements


@dataclass
class RateResult:
    """Alert to first notification at one offered rate."""

    target: str  # "sqlite, 1 worker" | "postgresql, 2 workers" | "alertmanager"
    rate: float
    duration_s: float
    fired: int
    accepted: int
    paged: int
    latency: Spread
    ingest: Spread  # POST scheduled → 2xx
    stages: dict[str, Spread] = field(default_factory=dict)
    client_lag_ms: float = 0.0  # p99 of (actually sent − scheduled): the client kept up if small
    # CPU milliseconds Vigil's processes spent per accepted alert (robust to a busy machine)
    cpu_ms_per_alert: float | None = None
    load: float = 0.0  # 1-minute load average when the measurement started (a shared machine)
    first_error: str = ""


@dataclass
class LatenessResult:
    target: str
    incidents: int
    create_s: float
    paged: int
    lateness: Spread  # arrival − due
    fired_late: Spread  # last_fired_at − due (the engine alone)
    sent_late: Spread  # sent_at (recorded after the receiver answered) − due
    window_s: float  # first to last due time
    worker_interval: float
    load: float = 0.0


def _drain(
    receiver: Receiver,
    match: Callable[[dict[str, Any]], str | None],
    expected: int,
    *,
    stall: float,
    cap: float,
) -> dict[str, float]:
    """First arrival time per id that `match` extracts, once `expected` ids are in, or nothing
    new came for `stall` seconds, or `cap` seconds passed."""
    first: dict[str, float] = {}
    for record in receiver.records:
        ident = match(record)
        if ident is not None:
            first[ident] = min(first.get(ident, record["t"]), record["t"])
    start = last_new = time.monotonic()
    while len(first) < expected:
        fresh = receiver.poll()
        for record in fresh:
            ident = match(record)
            if ident is not None:
                if ident not in first:
                    last_new = time.monotonic()
                first[ident] = min(first.get(ident, record["t"]), record["t"])
        now = time.monotonic()
        if now - last_new > stall or now - start > cap:
            break
        time.sleep(0.05)
    return first


def _ms(seconds: Iterable[float]) -> list[float]:
    return [s * 1000 for s in seconds]


def _stages(
    vigil: Vigil, run: str, shots: dict[int, Shot], first: dict[str, float]
) -> dict[str, Spread]:
    """Split each page's latency with the database's timestamps: the incident's `created_at` is
    the ingest's `now`, the escalation's `last_fired_at` is when the worker fired level 1 (and
    planned the page), the message's `sent_at` is recorded after the receiver answered."""
    from vigil.escalation.models import IncidentEscalation
    from vigil.incidents.models import Incident
    from vigil.notify.models import Notification

    assert vigil.engine is not None
    query = (
        sa.select(
            Incident.title,
            Incident.created_at,
            IncidentEscalation.last_fired_at,
            Notification.sent_at,
        )
        .join(IncidentEscalation, IncidentEscalation.incident_id == Incident.id)
        .join(Notification, Notification.incident_id == Incident.id)
        .where(Incident.title.like(f"bench {run} %"), Notification.kind == "page")
    )
    columns: dict[str, list[float]] = {
        "POST → ingest starts": [],
        "ingest starts → level 1 fired": [],
        "fired → page arrives": [],
        "arrives → sent recorded": [],
    }
    with vigil.engine.connect() as conn:
        for title, created, fired, sent in conn.execute(query):
            seq = int(title.rsplit(" ", 1)[1])
            shot, arrived = shots.get(seq), first.get(str(seq))
            if shot is None or arrived is None or fired is None:
                continue
            columns["POST → ingest starts"].append(created.timestamp() - shot.due)
            columns["ingest starts → level 1 fired"].append(fired.timestamp() - created.timestamp())
            columns["fired → page arrives"].append(arrived - fired.timestamp())
            if sent is not None:
                columns["arrives → sent recorded"].append(sent.timestamp() - arrived)
    return {name: Spread.of(_ms(values)) for name, values in columns.items()}


class Profiler:
    """py-spy on every Vigil process while a measurement runs (--profile DIR), twice over: `wall`
    samples every thread, waiting or not (where a page's time goes), `gil` only the thread holding
    the GIL (where the CPU goes). Non-blocking, so the processes are not paused to be sampled."""

    def __init__(self, directory: Path | None, name: str, pids: list[int], seconds: float) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        if directory is None or not PY_SPY.exists():
            return
        directory.mkdir(parents=True, exist_ok=True)
        for pid in pids:
            for mode, flag in (("wall", "--idle"), ("gil", "--gil")):
                command = [
                    str(PY_SPY),
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(max(1, round(seconds))),
                    "--rate",
                    "100",
                    "--format",
                    "raw",
                    "--threads",
                    "--nonblocking",
                    flag,
                    "--output",
                    str(directory / f"{name}-pid{pid}-{mode}.txt"),
                ]
                self.procs.append(
                    subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                )

    def wait(self) -> None:
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


def measure_vigil_rate(
    vigil: Vigil,
    receiver: Receiver,
    rate: float,
    duration: float,
    profile_dir: Path | None,
) -> RateResult:
    run = uuid.uuid4().hex[:8]
    load = os.getloadavg()[0]
    path = f"/integrations/alertmanager/{vigil.keys['alertmanager']}"
    cpu_before = sum(cpu_seconds(pid) for pid in vigil.pids())
    profiler = (
        Profiler(
            profile_dir, f"{vigil.database}-w{vigil.workers}-r{rate:g}", vigil.pids(), duration
        )
        if rate == TARGET_RATE
        else Profiler(None, "", [], 0)
    )
    shots = fire(
        vigil.base_url, path, lambda seq: am_webhook_body(run, seq), rate=rate, duration=duration
    )
    prefix = f"bench {run} "

    def match(record: dict[str, Any]) -> str | None:
        title = record.get("title")
        if (
            record["path"] == vigil.page_path
            and record.get("kind") == "page"
            and title
            and title.startswith(prefix)
        ):
            return str(title[len(prefix) :])
        return None

    accepted = [s for s in shots if 200 <= s.status < 300]
    first = _drain(receiver, match, len(accepted), stall=15, cap=120)
    profiler.wait()
    cpu = sum(cpu_seconds(pid) for pid in vigil.pids()) - cpu_before
    by_seq = {s.seq: s for s in shots}
    latencies = [first[str(s.seq)] - s.due for s in accepted if str(s.seq) in first]
    return RateResult(
        target=vigil.label,
        rate=rate,
        duration_s=duration,
        fired=len(shots),
        accepted=len(accepted),
        paged=len(latencies),
        latency=Spread.of(_ms(latencies)),
        ingest=Spread.of(_ms(s.answered - s.due for s in accepted)),
        stages=_stages(vigil, run, by_seq, first),
        client_lag_ms=percentile(_ms(s.sent - s.due for s in shots), 99),
        cpu_ms_per_alert=round(cpu * 1000 / len(accepted), 2) if accepted else None,
        first_error=next((s.error or str(s.status) for s in shots if s not in accepted), ""),
        load=load,
    )


def measure_alertmanager_rate(
    am: Alertmanager, receiver: Receiver, rate: float, duration: float
) -> RateResult:
    run = uuid.uuid4().hex[:8]
    load = os.getloadavg()[0]
    shots = fire(
        am.base_url,
        "/api/v2/alerts",
        lambda seq: am_api_body(run, seq),
        rate=rate,
        duration=duration,
    )

    def match(record: dict[str, Any]) -> str | None:
        for alert_run, seq in record.get("am") or []:
            if alert_run == run:
                return str(seq)
        return None

    accepted = [s for s in shots if 200 <= s.status < 300]
    first = _drain(receiver, match, len(accepted), stall=15, cap=120)
    latencies = [first[str(s.seq)] - s.due for s in accepted if str(s.seq) in first]
    return RateResult(
        target="alertmanager",
        rate=rate,
        duration_s=duration,
        fired=len(shots),
        accepted=len(accepted),
        paged=len(latencies),
        latency=Spread.of(_ms(latencies)),
        ingest=Spread.of(_ms(s.answered - s.due for s in accepted)),
        client_lag_ms=percentile(_ms(s.sent - s.due for s in shots), 99),
        first_error=next((s.error or str(s.status) for s in shots if s not in accepted), ""),
        load=load,
    )


def measure_lateness(
    vigil: Vigil,
    receiver: Receiver,
    incidents: int,
    worker_interval: float,
    open_seconds: float = 60.0,
) -> LatenessResult:
    """Open `incidents` incidents evenly over `open_seconds` (0: as fast as possible), wait until
    level 1 fired on all of them, then time level 2."""
    from vigil.escalation.models import EscalationState, IncidentEscalation
    from vigil.incidents.models import Incident
    from vigil.notify.models import Notification

    assert vigil.api is not None and vigil.engine is not None
    run = uuid.uuid4().hex[:8]
    load = os.getloadavg()[0]
    started = time.monotonic()
    batch = LATENESS_BATCH if open_seconds <= 0 else LATENESS_PACED_BATCH
    for first in range(0, incidents, batch):
        if open_seconds > 0:  # pace: this batch is due at its share of the opening window
            lag = started + open_seconds * first / incidents - time.monotonic()
            if lag > 0:
                time.sleep(lag)
        events = [
            {
                "summary": f"late {run} {n}",
                "severity": "critical",
                "source": f"host-{n}",
                "dedup_key": f"late-{run}-{n}",
            }
            for n in range(first, min(first + batch, incidents))
        ]
        response = vigil.api.post(f"/integrations/generic/{vigil.keys['generic']}", json=events)
        if response.status_code != 202:
            raise RuntimeError(f"generic batch: {response.status_code} {response.text[:300]}")
    create_s = time.monotonic() - started
    waiting = (
        sa.select(IncidentEscalation.incident_id, IncidentEscalation.next_at)
        .join(Incident, Incident.id == IncidentEscalation.incident_id)
        .where(
            Incident.service_id == vigil.service_id,
            IncidentEscalation.state == EscalationState.ACTIVE,
            IncidentEscalation.next_level == 1,
        )
    )
    # Collect each escalation's level-2 due time while it waits at level 1 (it does not change
    # then); polling keeps the ones that fire level 2 before the last incident reached level 1.
    deadline = time.monotonic() + 300
    due: dict[int, float] = {}
    while time.monotonic() < deadline:
        with vigil.engine.connect() as conn:
            due.update({i: at.timestamp() for i, at in conn.execute(waiting)})
        if len(due) >= incidents:
            break
        time.sleep(0.5)
    if len(due) < incidents:
        print(f"  only {len(due)} of {incidents} escalations were seen at level 2", flush=True)
    if due and min(due.values()) < time.time():
        print("  some level-2 steps fell due before level 1 had fired everywhere", flush=True)
    wanted = {str(i) for i in due}

    def match(record: dict[str, Any]) -> str | None:
        key = record.get("key") or ""
        if record["path"] == vigil.page_path and record.get("kind") == "page" and "-l1-" in key:
            number = str(record.get("number"))
            return number if number in wanted else None
        return None

    wait_until = max(due.values(), default=time.time()) + 5
    while time.time() < wait_until:
        time.sleep(min(1.0, max(0.0, wait_until - time.time())))
        receiver.poll()
    arrived = _drain(receiver, match, len(due), stall=20, cap=300)
    fired_query = (
        sa.select(Notification.incident_id, Notification.created_at, Notification.sent_at)
        .join(Incident, Incident.id == Notification.incident_id)
        .where(Incident.service_id == vigil.service_id, Notification.level == 1)
    )
    fired_late, sent_late = [], []
    with vigil.engine.connect() as conn:
        for incident_id, created, sent in conn.execute(fired_query):
            if incident_id in due:
                fired_late.append(created.timestamp() - due[incident_id])
                if sent is not None:
                    sent_late.append(sent.timestamp() - due[incident_id])
    lateness = [arrived[str(i)] - at for i, at in due.items() if str(i) in arrived]
    return LatenessResult(
        target=vigil.label,
        incidents=incidents,
        create_s=round(create_s, 1),
        paged=len(lateness),
        lateness=Spread.of(_ms(lateness)),
        fired_late=Spread.of(_ms(fired_late)),
        sent_late=Spread.of(_ms(sent_late)),
        window_s=round(max(due.values()) - min(due.values()), 1) if due else 0.0,
        worker_interval=worker_interval,
        load=load,
    )


# ---------------------------------------------------------------------------------------------
# Reporting


RATE_HEADER = (
    f"{'target':<24} {'alerts/s':>8} {'fired':>6} {'2xx':>6} {'paged':>6} "
    f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'POST p50/p99':>14} {'CPU ms':>6} {'load':>5}"
)


def format_rate(r: RateResult) -> str:
    cpu = f"{r.cpu_ms_per_alert:.1f}" if r.cpu_ms_per_alert is not None else "-"
    line = (
        f"{r.target:<24} {r.rate:>8g} {r.fired:>6} {r.accepted:>6} {r.paged:>6} "
        f"{r.latency.p50:>8.1f} {r.latency.p99:>8.1f} {r.latency.max:>8.1f} "
        f"{f'{r.ingest.p50:.1f}/{r.ingest.p99:.1f}':>14} {cpu:>6} {r.load:>5.1f}"
    )
    if r.client_lag_ms > 20:
        line += f"  (client lagged {r.client_lag_ms:.0f} ms p99)"
    if r.first_error:
        line += f"  first error: {r.first_error[:100]}"
    return line


def format_stages(r: RateResult) -> str:
    return "\n".join(
        f"    {name:<32} p50 / p99 / max {spread.text()} ms" for name, spread in r.stages.items()
    )


def format_lateness(r: LatenessResult) -> str:
    return (
        f"{r.target:<24} {r.incidents} open incidents (created in {r.create_s:.1f} s), "
        f"level 2 due over {r.window_s:.1f} s, worker interval {r.worker_interval:g} s, "
        f"load {r.load:.1f}: "
        f"{r.paged} paged\n"
        f"    arrival − due   p50 / p99 / max {r.lateness.text()} ms\n"
        f"    fired − due     p50 / p99 / max {r.fired_late.text()} ms\n"
        f"    sent − due      p50 / p99 / max {r.sent_late.text()} ms"
    )


def verdicts(rates: list[RateResult], lateness: list[LatenessResult]) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for r in rates:
        if r.target == "alertmanager" or r.rate != TARGET_RATE:
            continue
        complete = r.paged == r.fired
        rows.append(
            (
                f"{r.target}: p50 < {TARGET_P50_MS:g} ms at {TARGET_RATE}/s",
                f"{r.latency.p50:.1f} ms",
                "met" if r.latency.p50 < TARGET_P50_MS and complete else "NOT met",
            )
        )
        rows.append(
            (
                f"{r.target}: p99 < {TARGET_P99_MS:g} ms at {TARGET_RATE}/s",
                f"{r.latency.p99:.1f} ms ({r.paged}/{r.fired} paged)",
                "met" if r.latency.p99 < TARGET_P99_MS and complete else "NOT met",
            )
        )
    for r in lateness:
        complete = r.paged == r.incidents
        rows.append(
            (
                f"{r.target}: lateness p99 < {TARGET_LATENESS_P99_MS:g} ms, {r.incidents} open",
                f"{r.lateness.p99:.0f} ms ({r.paged}/{r.incidents} paged)",
                "met" if r.lateness.p99 < TARGET_LATENESS_P99_MS and complete else "NOT met",
            )
        )
    return rows


def print_report(rates: list[RateResult], lateness: list[LatenessResult], am_note: str) -> None:
    if rates:
        print("\nAlert to first notification (latency from each alert's scheduled POST):")
        print(RATE_HEADER)
        for r in rates:
            print(format_rate(r))
        am = {r.rate: r for r in rates if r.target == "alertmanager"}
        if am:
            print("\nVigil / Alertmanager (alert-to-webhook latency, p50 and p99):")
            for r in rates:
                ref = am.get(r.rate)
                if r.target == "alertmanager" or ref is None or not ref.latency.n:
                    continue
                print(
                    f"  {r.target:<24} {r.rate:>5g}/s  p50 {r.latency.p50 / ref.latency.p50:6.2f}x"
                    f"  p99 {r.latency.p99 / ref.latency.p99:6.2f}x  "
                    f"(Alertmanager {ref.latency.p50:.1f} / {ref.latency.p99:.1f} ms)"
                )
        print(f"\n{am_note}")
    if lateness:
        print("\nEscalation lateness:")
        for r in lateness:
            print(format_lateness(r))
    print("\nTargets:")
    for label, measured, verdict in verdicts(rates, lateness):
        print(f"  [{verdict:^7}] {label}: {measured}")


# ---------------------------------------------------------------------------------------------


@dataclass
class Options:
    databases: list[str]
    rates: list[float]
    workers: list[int]
    duration: float
    lateness_incidents: int
    lateness_open_seconds: float
    worker_interval: float | None
    only: str  # "" | "rates" | "lateness"
    alertmanager: bool
    pg_admin_url: str
    profile_dir: Path | None
    vigil_src: Path | None = None


def combos(options: Options) -> list[tuple[str, int]]:
    """(database, workers) pairs to run: two workers only on PostgreSQL (SQLite runs one)."""
    out = []
    for database in options.databases:
        for workers in options.workers:
            if workers > 1 and database != "postgresql":
                continue
            out.append((database, workers))
    return out


def run(options: Options, workdir: Path) -> tuple[list[RateResult], list[LatenessResult], str]:
    receiver = Receiver()
    receiver.start()
    rates: list[RateResult] = []
    lateness: list[LatenessResult] = []
    binary = alertmanager_binary()
    if not options.alertmanager or options.only == "lateness":
        am_note = "Alertmanager: not measured."
    elif binary is None:
        am_note = "Alertmanager: skipped, not installed (apt-get install prometheus-alertmanager)."
    else:
        am_note = f"Alertmanager: {alertmanager_version(binary)} (group_wait 0s, group_by ['...'])"
    interval = options.worker_interval or 1.0
    try:
        if options.only != "lateness" and options.alertmanager and binary is not None:
            am = Alertmanager(binary, workdir, receiver)
            am.start()
            try:
                for rate in options.rates:
                    result = measure_alertmanager_rate(am, receiver, rate, options.duration)
                    print(format_rate(result), flush=True)
                    rates.append(result)
            finally:
                am.stop()
        for database, workers in combos(options):
            if options.only != "lateness":
                vigil = Vigil(
                    database,
                    workers,
                    workdir,
                    options.pg_admin_url,
                    receiver,
                    options.worker_interval,
                    options.vigil_src,
                )
                try:
                    vigil.start(two_levels=False)
                    for rate in options.rates:
                        result = measure_vigil_rate(
                            vigil, receiver, rate, options.duration, options.profile_dir
                        )
                        print(format_rate(result), flush=True)
                        print(format_stages(result), flush=True)
                        rates.append(result)
                        if problem := vigil.alive():
                            raise RuntimeError(problem)
                except Exception:
                    print(f"{vigil.label} failed; its logs:\n{vigil.log_tail()}", file=sys.stderr)
                    raise
                finally:
                    vigil.stop()
            if options.only != "rates" and options.lateness_incidents > 0:
                vigil = Vigil(
                    database,
                    workers,
                    workdir,
                    options.pg_admin_url,
                    receiver,
                    options.worker_interval,
                    options.vigil_src,
                )
                try:
                    vigil.start(two_levels=True)
                    late = measure_lateness(
                        vigil,
                        receiver,
                        options.lateness_incidents,
                        interval,
                        options.lateness_open_seconds,
                    )
                    print(format_lateness(late), flush=True)
                    lateness.append(late)
                except Exception:
                    print(f"{vigil.label} failed; its logs:\n{vigil.log_tail()}", file=sys.stderr)
                    raise
                finally:
                    vigil.stop()
    finally:
        receiver.stop()
    return rates, lateness, am_note


def parse_args(argv: list[str] | None) -> tuple[Options, str | None, bool]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument(
        "--rates", default="10,100,500", help="new alerts per second, comma-separated"
    )
    parser.add_argument(
        "--workers",
        default="1,2",
        help="1 = the worker embedded in vigil serve; 2 = serve --no-worker + two vigil worker "
        "processes (PostgreSQL only)",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per rate")
    parser.add_argument(
        "--lateness-incidents",
        type=int,
        default=10_000,
        help="open incidents for the lateness measurement (0 skips it)",
    )
    parser.add_argument(
        "--lateness-open-seconds",
        type=float,
        default=60.0,
        help="open them evenly over this many seconds (0: a burst, as fast as possible)",
    )
    parser.add_argument(
        "--worker-interval",
        type=float,
        help="VIGIL_WORKER_INTERVAL_SECONDS for every Vigil process (default: Vigil's, 1 s)",
    )
    parser.add_argument("--only", choices=["rates", "lateness"], default="")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2 s per rate, no lateness (its shortest level delay is a minute): under 90 s",
    )
    parser.add_argument("--no-alertmanager", action="store_true")
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN_URL)
    parser.add_argument(
        "--profile",
        type=Path,
        help=f"record py-spy profiles of every Vigil process at {TARGET_RATE}/s into this folder",
    )
    parser.add_argument("--json", dest="json_path", help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, SQLite)")
    parser.add_argument(
        "--vigil-src",
        type=Path,
        help="run Vigil from this src/ (PYTHONPATH) instead of the venv's editable install",
    )
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.receiver:
        receiver_main(args.receiver)
        sys.exit(0)
    options = Options(
        databases=["sqlite", "postgresql"] if args.database == "both" else [args.database],
        rates=[float(r) for r in args.rates.split(",") if r],
        workers=sorted({int(w) for w in args.workers.split(",") if w}),
        duration=2.0 if args.quick and args.duration == 10.0 else args.duration,
        lateness_incidents=0 if args.quick and args.only != "lateness" else args.lateness_incidents,
        lateness_open_seconds=args.lateness_open_seconds,
        worker_interval=args.worker_interval,
        only=args.only,
        alertmanager=not args.no_alertmanager,
        pg_admin_url=args.pg_admin_url,
        profile_dir=args.profile.resolve() if args.profile else None,
        vigil_src=args.vigil_src.resolve() if args.vigil_src else None,
    )
    if options.vigil_src is not None:  # the models this process reads with come from there too
        sys.path.insert(0, str(options.vigil_src))
    return options, args.json_path, args.keep


def main(argv: list[str] | None = None) -> int:
    options, json_path, keep = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="vigil-paging-bench-"))
    load = os.getloadavg()[0]
    print(
        f"{os.cpu_count()} CPUs, load {load:.1f}; {options.duration:g} s per rate, open loop; "
        f"databases {', '.join(options.databases)}; workers {options.workers}\n{RATE_HEADER}",
        flush=True,
    )
    try:
        rates, lateness, am_note = run(options, workdir)
    finally:
        if keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print_report(rates, lateness, am_note)
    if json_path:
        Path(json_path).write_text(
            json.dumps(
                {
                    "options": {
                        "databases": options.databases,
                        "rates": options.rates,
                        "workers": options.workers,
                        "duration": options.duration,
                        "worker_interval": options.worker_interval,
                    },
                    "alertmanager": am_note,
                    "rates": [asdict(r) for r in rates],
                    "lateness": [asdict(r) for r in lateness],
                },
                indent=2,
                default=str,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
