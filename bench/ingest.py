"""Ingest benchmark: how many alerts a running `vigil serve` accepts per second, and how fast.

It starts Vigil (SQLite and/or a fresh PostgreSQL database) and, when installed, Alertmanager on
loopback ports, drives them with `wrk` (a C load generator, so the 2-core machine spends its CPU on
the servers, not on the client) through a Lua script that builds a fresh label set per alert, and
prints alerts/s, requests/s, p50/p99 latency and the server's peak RSS per scenario, then the
Vigil / Alertmanager ratios and the targets of docs/PERFORMANCE.md.

Alertmanager runs with `group_wait: 1s` (`--am-group-wait`), not its usual 30 s. Vigil opens
and pages every incident inside the request; Alertmanager defers that work (building and
flushing each aggregation group) by `group_wait`. With 30 s, a run of a few seconds per scenario
never sees that work: Alertmanager's rate on ungrouped alerts fell from about 19,000 to 3,000
alerts/s (single alerts) and from 42,000 to under 1,000 (batches) once its first groups
flushed, 35 s into a sustained run (docs/PERFORMANCE.md, session 6). With 1 s, the deferred work
falls inside every measurement, as Vigil's does.

One run's ratios move with the machine: Alertmanager's own batch rate was 43,459 alerts/s in one
full run and 48,599 in the next on the same machine, so a ratio near 1.0 is a coin flip.
`--rounds 3` runs the whole sequence (Alertmanager, then each Vigil) three times, each round on
fresh databases, so each Vigil figure has an Alertmanager figure from minutes before it; the
report prints every round's ratios and judges the targets on each scenario's median round.

Each saturated scenario runs with 16, 64 and 256 open connections (`--concurrency`), each time
on fresh alerts, and its rate is the best of the three: the server's saturated rate. With 16
connections alone, Vigil on PostgreSQL waited on its commits with the machine half idle, and
Alertmanager did not use both cores either; the report prints the rate at each number.

    .venv/bin/python bench/ingest.py --database both          # the full run (about 20 minutes)
    .venv/bin/python bench/ingest.py --database both --rounds 3   # medians of three rounds
    .venv/bin/python bench/ingest.py --quick --database both  # smoke run, under a minute
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from procstat import cpu_seconds, process_tree

ROOT = Path(__file__).resolve().parent.parent
VIGIL = ROOT / ".venv" / "bin" / "vigil"
DEFAULT_PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
GROUPS = 10  # distinct alertnames: one incident (grouped) or one AM aggregation group each
REPEAT_KEYS = 1000  # the fixed set of open alerts that repeat scenarios re-send
MARKER = "VIGIL_BENCH "

# ---------------------------------------------------------------------------------------------
# Scenarios


@dataclass(frozen=True, slots=True)
class Scenario:
    """One measured load: a wire format, alerts per request, new or repeated keys, a grouping."""

    name: str
    fmt: str  # prometheus | alertmanager | pagerduty
    batch: int
    repeat: bool
    grouped: bool
    compare_alertmanager: bool = False  # Alertmanager accepts this payload on /api/v2/alerts
    paced_from: str | None = None  # run at half the saturated rate of that scenario


# Run in this order on one server (a paced scenario runs right after its twin). Each ungrouped
# scenario opens thousands of incidents that the worker then pages and escalates in the
# background, so a repeat scenario runs right after its new-alert twin, before the ungrouped
# ones: measured after them, repeats of one-alert requests came out 4-13% below new alerts (their
# server CPU per alert 37-46% higher); measured beside them, 42% above. The half-rate runs, last
# of all, had a p99 of 54 and 66 ms behind the ungrouped storms' paging, 36-46 ms before.
SCENARIOS: list[Scenario] = [
    Scenario("prom1-new-grouped", "prometheus", 1, False, True, compare_alertmanager=True),
    Scenario("prom1-repeat-grouped", "prometheus", 1, True, True, compare_alertmanager=True),
    Scenario("prom100-new-grouped", "prometheus", 100, False, True, compare_alertmanager=True),
    Scenario("prom100-repeat-grouped", "prometheus", 100, True, True, compare_alertmanager=True),
    Scenario("am100-new-grouped", "alertmanager", 100, False, True),
    Scenario("prom1-new-ungrouped", "prometheus", 1, False, False, compare_alertmanager=True),
    Scenario("prom100-new-ungrouped", "prometheus", 100, False, False, compare_alertmanager=True),
    Scenario("pd1-new", "pagerduty", 1, False, False),
    Scenario("pd1-repeat", "pagerduty", 1, True, False),
    Scenario("prom1-half-grouped", "prometheus", 1, False, True, paced_from="prom1-new-grouped"),
    Scenario(
        "prom1-half-ungrouped", "prometheus", 1, False, False, paced_from="prom1-new-ungrouped"
    ),
]
QUICK = [
    "prom1-new-grouped",
    "prom100-new-grouped",
    "prom100-repeat-grouped",
    "pd1-new",
    "prom1-half-grouped",
]


# ---------------------------------------------------------------------------------------------
# Payload templates: Python fills in the fixed parts; the Lua script (and `expand` for priming)
# substitutes @N@ (a 16-hex-digit alert id), @F@ (the alert's fingerprint, 16 hex digits that a
# hash scatters), @A@ (alert id mod GROUPS) and @G@ (message id mod GROUPS) per alert, so every
# request of a "new" scenario carries label sets never seen before.
#
# Alertmanager's fingerprint is a hash of the label set (FNV-64a), so a storm's new fingerprints
# fall all over the key order. Sent in order (the alert id, as until session 18), each new alert
# of a batch landed next to the one before it in the dedup index: the webhook's batches cost the
# writer 15 µs an alert against 25 for the same alerts sent to the Prometheus endpoint, whose
# dedup keys Vigil hashes itself.


@dataclass(frozen=True, slots=True)
class Template:
    path: str
    prefix: str
    alert: str
    suffix: str


def make_template(fmt: str, *, path: str, nonce: str, routing_key: str = "") -> Template:
    """The body pieces of one request in `fmt`, shaped as each sender posts them."""
    start = datetime.now(UTC).replace(microsecond=0)
    starts_at = start.isoformat().replace("+00:00", "Z")
    ends_at = (start + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    labels = (
        '{"alertname":"BenchAlert@A@","instance":"host-@N@:9100","job":"node",'
        f'"severity":"critical","bench":"{nonce}"}}'
    )
    if fmt == "prometheus":
        alert = (
            f'{{"labels":{labels},"annotations":{{"summary":"BenchAlert@A@ on host-@N@",'
            '"description":"synthetic load from bench/ingest.py"},'
            f'"startsAt":"{starts_at}","endsAt":"{ends_at}",'
            '"generatorURL":"http://prometheus:9090/graph?g0.expr=up"}'
        )
        return Template(path, "[", alert, "]")
    if fmt == "alertmanager":
        prefix = (
            '{"version":"4","groupKey":"{}:{alertname=\\"BenchAlert@G@\\"}","truncatedAlerts":0,'
            '"status":"firing","receiver":"vigil","groupLabels":{"alertname":"BenchAlert@G@"},'
            '"commonLabels":{"alertname":"BenchAlert@G@","job":"node"},"commonAnnotations":{},'
            '"externalURL":"http://alertmanager:9093","alerts":['
        )
        alert = (
            '{"status":"firing","labels":{"alertname":"BenchAlert@G@","instance":"host-@N@:9100",'
            f'"job":"node","severity":"critical","bench":"{nonce}"}},'
            '"annotations":{"summary":"BenchAlert@G@ on host-@N@"},'
            f'"startsAt":"{starts_at}","endsAt":"0001-01-01T00:00:00Z",'
            '"generatorURL":"http://prometheus:9090/graph?g0.expr=up","fingerprint":"@F@"}'
        )
        return Template(path, prefix, alert, "]}")
    if fmt == "pagerduty":
        alert = (
            f'{{"routing_key":"{routing_key}","event_action":"trigger",'
            f'"dedup_key":"bench-{nonce}-@N@","payload":{{"summary":"Disk 95% full on db-@N@",'
            f'"source":"db-@N@.example.com","severity":"critical","timestamp":"{starts_at}",'
            '"component":"postgres","group":"prod","class":"disk",'
            '"custom_details":{"free_bytes":1024}},"client":"bench",'
            '"client_url":"https://monitoring.example.com"}'
        )
        return Template(path, "", alert, "")
    raise ValueError(f"unknown format {fmt!r}")


FINGERPRINT_SALT = 0x5BD1E995  # the second half of a fingerprint hashes the id plus this


def fmix32(h: int) -> int:
    """MurmurHash3's 32-bit finalizer: a bijection that scatters consecutive numbers (the Lua
    script's `fmix32` computes the same)."""
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    return h ^ (h >> 16)


def fingerprint(n: int) -> str:
    """A repeated alert's fingerprint (`@F@`), as the Lua script makes it."""
    return f"{fmix32(n & 0xFFFFFFFF):08x}{fmix32((n + FINGERPRINT_SALT) & 0xFFFFFFFF):08x}"


def expand(text: str, n: int, batch: int) -> str:
    """The Lua script's substitution for a repeated alert id `n` (same ids as the Lua side)."""
    return (
        text.replace("@N@", f"{n:016x}")
        .replace("@F@", fingerprint(n))
        .replace("@A@", str(n % GROUPS))
        .replace("@G@", str((n // batch) % GROUPS))
    )


def repeat_bodies(template: Template, batch: int) -> Iterator[str]:
    """The requests that open the fixed set of alerts a repeat scenario re-sends."""
    for first in range(0, REPEAT_KEYS, batch):
        alerts = ",".join(expand(template.alert, n, batch) for n in range(first, first + batch))
        yield expand(template.prefix, first, batch) + alerts + template.suffix


LUA = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local threads = {}
function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

local cfg, counter, next_slot
function init(args)
  cfg = dofile(args[1])
  counter = 0
  wrk.headers["Content-Type"] = "application/json"
end

-- 32-bit multiplication in halves (a double holds 53 bits exactly), for MurmurHash3's fmix32.
local bit = require("bit")
local function mul32(a, b)
  local a_lo, a_hi = bit.band(a, 0xffff), bit.rshift(a, 16)
  return bit.tobit(a_lo * b + bit.lshift(bit.tobit(a_hi * bit.band(b, 0xffff)), 16))
end
local function fmix32(h)
  h = bit.bxor(h, bit.rshift(h, 16))
  h = mul32(h, 0x85ebca6b)
  h = bit.bxor(h, bit.rshift(h, 13))
  h = mul32(h, 0xc2b2ae35)
  return bit.bxor(h, bit.rshift(h, 16))
end
local function scattered(n)
  return bit.tohex(fmix32(bit.tobit(n))) .. bit.tohex(fmix32(bit.tobit(n + FINGERPRINT_SALT)))
end

local function sub(text, n)
  return (text:gsub("@(%u)@", function(c)
    if c == "N" then
      if cfg.repeat_keys > 0 then return string.format("%016x", n) end
      return string.format("%02x%014x", thread_index + 1, n)
    elseif c == "F" then
      if cfg.repeat_keys > 0 then return scattered(n) end
      return string.format("%02x", thread_index + 1) .. string.sub(scattered(n), 1, 14)
    elseif c == "A" then return tostring(n % cfg.groups)
    else return tostring(math.floor(n / cfg.batch) % cfg.groups) end
  end))
end

function request()
  local parts = {}
  local first
  for i = 1, cfg.batch do
    local n = counter
    if cfg.repeat_keys > 0 then n = counter % cfg.repeat_keys end
    if i == 1 then first = n end
    counter = counter + 1
    parts[i] = sub(cfg.alert, n)
  end
  local body = sub(cfg.prefix, first) .. table.concat(parts, ",") .. cfg.suffix
  return wrk.format("POST", cfg.path, nil, body)
end

function response(status, headers, body)
  if status >= 300 and first_error == nil then
    first_error = status .. " " .. string.sub(body or "", 1, 300)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local first = ""
  for _, t in ipairs(threads) do
    local err = t:get("first_error")
    if err ~= nil and first == "" then first = err end
  end
  io.write(string.format(
    '%s{"duration_us":%d,"requests":%d,"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"first_error":%q}\n',
    "VIGIL_BENCH ", summary.duration, summary.requests, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, first))
end
"""

LUA = LUA.replace("FINGERPRINT_SALT", hex(FINGERPRINT_SALT))  # one salt for Lua and `fingerprint`

# Paced runs: every request takes the next slot of a fixed schedule (open loop per thread, bounded
# by the connections), so latency is measured at a known offered rate.
LUA_DELAY = r"""
function delay()
  local t = now_ms()
  if next_slot == nil then next_slot = t end
  local d = next_slot - t
  next_slot = next_slot + cfg.interval_ms
  if d <= 0 then return 0 end
  return math.floor(d + 0.5)
end
"""


def lua_string(value: str) -> str:
    return f"[==[{value}]==]"


# ---------------------------------------------------------------------------------------------
# Measurement


@dataclass
class Result:
    target: str  # vigil-sqlite | vigil-postgresql | alertmanager
    scenario: str
    batch: int
    duration_s: float
    requests: int
    failed: int
    requests_per_s: float
    alerts_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    peak_rss_mb: float | None = None
    server_cpu_us_per_alert: float | None = None  # robust to a busy machine, unlike rates
    # The same, per process of the server: Vigil's HTTP process, worker and ingest writer.
    cpu_us_per_alert_by_process: dict[str, float] = field(default_factory=dict)
    load_before: float | None = None  # 1-minute load average when the scenario started
    offered_rps: float | None = None
    applied_alerts: int | None = None  # trigger events found in the database afterwards
    # Vigil's group commits during the scenario (its /metrics): how many requests each answered
    # on average, and how long each took. Small commits are what a single alert costs most in.
    requests_per_commit: float | None = None
    commit_ms: float | None = None
    connections: int = 0  # wrk's open connections for this figure
    # A saturated scenario's rate at each number of connections tried (the figure is the best).
    rate_by_connections: dict[int, float] = field(default_factory=dict)
    all_requests: int = 0  # 2xx requests over every number of connections tried
    first_error: str = ""
    notes: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def rss_mb(pid: int, field_name: str = "VmRSS") -> float | None:
    """Resident memory from /proc (psutil is not a dependency)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@contextmanager
def rss_sampler(pid: int | None) -> Iterator[list[float]]:
    """Sample the RSS of the server's processes (its HTTP processes and its worker) four times a
    second while the block runs; yields the samples, each the largest process's."""
    samples: list[float] = []
    stop = threading.Event()

    def run() -> None:
        while pid is not None and not stop.is_set():
            values = [v for v in (rss_mb(p) for p in process_tree(pid)) if v is not None]
            if values:
                samples.append(max(values))
            stop.wait(0.25)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


def run_wrk(
    *,
    base_url: str,
    template: Template,
    scenario: Scenario,
    duration: float,
    concurrency: int,
    threads: int,
    workdir: Path,
    rate: float | None = None,
) -> dict[str, Any]:
    """One wrk run; returns the numbers its `done()` printed."""
    script = workdir / "bench.lua"
    script.write_text(LUA + (LUA_DELAY if rate else ""))
    config = workdir / f"{scenario.name}-{uuid.uuid4().hex[:6]}.lua"
    interval_ms = 1000.0 * threads / rate if rate else 0.0
    config.write_text(
        "return {\n"
        f"  path = {lua_string(template.path)},\n"
        f"  prefix = {lua_string(template.prefix)},\n"
        f"  alert = {lua_string(template.alert)},\n"
        f"  suffix = {lua_string(template.suffix)},\n"
        f"  batch = {scenario.batch},\n"
        f"  groups = {GROUPS},\n"
        f"  repeat_keys = {REPEAT_KEYS if scenario.repeat else 0},\n"
        f"  interval_ms = {interval_ms},\n"
        "}\n"
    )
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{max(concurrency, threads)}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "30s",
        "-s",
        str(script),
        base_url,
        "--",
        str(config),
    ]
    proc = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            data: dict[str, Any] = json.loads(line[len(MARKER) :])
            return data
    raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}")


def to_result(
    target: str, scenario: Scenario, raw: dict[str, Any], rss: list[float], rate: float | None
) -> Result:
    seconds = raw["duration_us"] / 1e6
    failed = raw["status"] + raw["timeout"] + raw["read"] + raw["write"] + raw["connect"]
    ok = max(raw["requests"] - raw["status"], 0)
    return Result(
        target=target,
        scenario=scenario.name,
        batch=scenario.batch,
        duration_s=round(seconds, 2),
        requests=ok,
        failed=failed,
        requests_per_s=round(ok / seconds, 1),
        alerts_per_s=round(ok * scenario.batch / seconds, 1),
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        peak_rss_mb=round(max(rss), 1) if rss else None,
        offered_rps=round(rate, 1) if rate else None,
        first_error=raw.get("first_error", ""),
    )


# ---------------------------------------------------------------------------------------------
# Servers


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
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Vigil:
    """A `vigil serve` subprocess on a fresh database, with one service per scenario."""

    def __init__(
        self,
        database: str,
        workdir: Path,
        pg_admin_url: str,
        src: Path | None = None,
        http_processes: int = 1,
    ) -> None:
        self.database = database
        self.http_processes = http_processes
        self.workdir = workdir / f"vigil-{database}"
        self.workdir.mkdir()
        self.pg_admin_url = pg_admin_url
        self.pg_name = f"vigil_bench_{os.getpid()}"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
        self.env["VIGIL_DATA_DIR"] = str(self.workdir)
        if src is not None:  # benchmark another checkout (e.g. `git archive HEAD`) with this venv
            self.env["PYTHONPATH"] = str(src)
        if database == "postgresql":
            url = sa.make_url(pg_admin_url).set(database=self.pg_name)
            self.env["VIGIL_DATABASE_URL"] = url.render_as_string(hide_password=False)
            self.url = self.env["VIGIL_DATABASE_URL"]
        else:
            self.url = f"sqlite:///{self.workdir / 'vigil.db'}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.token = ""
        self.engine: sa.Engine | None = None

    def _admin(self, statement: str) -> None:
        admin = sa.create_engine(self.pg_admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(statement)
        admin.dispose()

    def start(self) -> None:
        self.prepare()
        self.launch()

    def prepare(self) -> None:
        """Create (or create again) and migrate the database and seed the demo (no server
        yet)."""
        if self.engine is not None:
            self.engine.dispose()
        if self.database == "postgresql":
            self._admin(f"DROP DATABASE IF EXISTS {self.pg_name} WITH (FORCE)")
            self._admin(f"CREATE DATABASE {self.pg_name}")
        else:
            for old in self.workdir.glob("vigil.db*"):
                old.unlink()
        run = {"env": self.env, "check": True, "capture_output": True, "cwd": self.workdir}
        subprocess.run([str(VIGIL), "db", "upgrade"], **run)  # type: ignore[call-overload]
        demo = subprocess.run([str(VIGIL), "demo", "--json"], **run)  # type: ignore[call-overload]
        self.token = json.loads(demo.stdout)["token"]
        self.engine = sa.create_engine(self.url)

    def launch(self) -> None:
        """Start (or restart) `vigil serve` on the prepared database."""
        log = (self.workdir / "serve.log").open("ab")
        self.proc = subprocess.Popen(
            [
                str(VIGIL),
                "serve",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                # Only when asked: older commits (--vigil-src) have no such option.
                *(
                    ["--http-processes", str(self.http_processes)]
                    if self.http_processes != 1
                    else []
                ),
            ],
            env=self.env,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_http(f"{self.base_url}/healthz", self.proc, "vigil serve")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def create_service(self, name: str, *, grouped: bool) -> tuple[int, dict[str, str]]:
        """A service for one scenario, so its incidents and alert counts are its own."""
        grouping: dict[str, Any] = (
            {"grouping_mode": "labels", "group_by": ["alertname"]}
            if grouped
            else {"grouping_mode": "none"}
        )
        response = httpx.post(
            f"{self.base_url}/api/v1/services",
            headers={"Authorization": f"Bearer {self.token}"},
            json={
                "name": name,
                **grouping,
                "integration_types": ["prometheus", "alertmanager", "pagerduty"],
            },
            timeout=30,
        )
        response.raise_for_status()
        body = response.json()
        return body["id"], {k["type"]: k["key"] for k in body["integration_keys"]}

    def applied_events(self, service_id: int) -> int:
        """Trigger events the database holds for a service (sum of its alerts' event counts)."""
        assert self.engine is not None
        with self.engine.connect() as conn:
            total = conn.execute(
                sa.text("SELECT COALESCE(SUM(event_count), 0) FROM alerts WHERE service_id = :s"),
                {"s": service_id},
            ).scalar_one()
        return int(total)

    def peak_rss(self) -> float | None:
        """The largest VmHWM among `vigil serve`'s processes (HTTP processes and worker)."""
        if not self.pid:
            return None
        peaks = [v for v in (rss_mb(p, "VmHWM") for p in process_tree(self.pid)) if v]
        return max(peaks) if peaks else None

    def log_tail(self, lines: int = 30) -> str:
        path = self.workdir / "serve.log"
        return "\n".join(path.read_text().splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        """Stop the server and drop its PostgreSQL database; safe to call twice."""
        if self.proc is not None:
            stop_process(self.proc)
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None
            if self.database == "postgresql":
                self._admin(f"DROP DATABASE IF EXISTS {self.pg_name} WITH (FORCE)")


def alertmanager_binary() -> str | None:
    return shutil.which("alertmanager") or shutil.which("prometheus-alertmanager")


def alertmanager_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    text = (out.stdout or out.stderr).splitlines()
    return text[0] if text else "unknown"


class Alertmanager:
    """Alertmanager on a loopback port with a null receiver and the given `group_by`."""

    def __init__(self, binary: str, workdir: Path, group_by: str, group_wait: str) -> None:
        self.binary = binary
        self.group_wait = group_wait
        self.workdir = workdir / f"alertmanager-{'all' if group_by == '...' else group_by}"
        shutil.rmtree(self.workdir, ignore_errors=True)  # a round before this one's (--rounds)
        self.workdir.mkdir()
        self.group_by = group_by
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        config = self.workdir / "alertmanager.yml"
        config.write_text(
            "route:\n"
            "  receiver: 'null'\n"
            f"  group_by: ['{self.group_by}']\n"
            f"  group_wait: {self.group_wait}\n"
            "  group_interval: 5m\n"
            "  repeat_interval: 4h\n"
            "receivers:\n"
            "  - name: 'null'\n"
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

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


# ---------------------------------------------------------------------------------------------
# Running


@dataclass
class Options:
    databases: list[str]
    scenarios: list[Scenario]
    duration: float
    concurrency: tuple[int, ...]  # each number of open connections a scenario is run with
    threads: int
    alertmanager: bool
    pg_admin_url: str
    warmup: float
    vigil_src: Path | None = None
    http_processes: int = 1
    am_group_wait: str = "1s"
    windows: int = 1
    rounds: int = 1


def prime(base_url: str, template: Template, batch: int) -> None:
    """Open the fixed set of alerts that a repeat scenario then re-sends."""
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for body in repeat_bodies(template, batch):
            response = client.post(
                template.path, content=body, headers={"Content-Type": "application/json"}
            )
            response.raise_for_status()


def measure(
    *,
    target: str,
    base_url: str,
    pid: int | None,
    scenario: Scenario,
    template: Template,
    options: Options,
    workdir: Path,
    rate: float | None = None,
    connections: int | None = None,
    renew: Callable[[], Template] | None = None,
) -> Result:
    """One scenario's rate: its saturated rate, the best of runs with each of
    `options.concurrency` open connections (fresh alerts each), or, paced at `rate`, one run
    with `connections`.

    A closed loop of a few connections measures latency as much as capacity: each connection
    waits for its answer before it sends again, so a server that answers after a durable commit
    (Vigil, more so on PostgreSQL) sits partly idle at 16 connections, and Alertmanager, which
    answers before its deferred work, did not use both cores either. Each server is judged on
    the most it accepted, and the report shows the rate at every number of connections.
    """
    if scenario.repeat:
        prime(base_url, template, 100 if scenario.fmt != "pagerduty" else 1)
    if rate is not None:
        levels = [connections or options.concurrency[0]]
    else:
        levels = list(options.concurrency)
    runs = []
    for level in levels:
        if runs and renew is not None and not scenario.repeat:
            template = renew()
        runs.append(
            measure_at(
                target=target,
                base_url=base_url,
                pid=pid,
                scenario=scenario,
                template=template,
                options=options,
                workdir=workdir,
                connections=level,
                rate=rate,
                renew=renew,
            )
        )
    best = max(runs, key=lambda r: r.alerts_per_s)
    best.rate_by_connections = {r.connections: r.alerts_per_s for r in runs}
    best.all_requests = sum(r.requests for r in runs)
    peaks = [r.peak_rss_mb for r in runs if r.peak_rss_mb]
    best.peak_rss_mb = max(peaks) if peaks else None
    if len(runs) > 1:
        tried = " · ".join(f"{c}: {v:,.0f}" for c, v in best.rate_by_connections.items())
        print(
            f"  saturated: {best.alerts_per_s:,.0f} alerts/s with {best.connections} "
            f"connections ({tried})",
            flush=True,
        )
    return best


def measure_at(
    *,
    target: str,
    base_url: str,
    pid: int | None,
    scenario: Scenario,
    template: Template,
    options: Options,
    workdir: Path,
    connections: int,
    rate: float | None = None,
    renew: Callable[[], Template] | None = None,
) -> Result:
    """One scenario with `connections` open: `options.windows` back-to-back runs of
    `options.duration` seconds, each on fresh alerts (`renew` gives a template with a new
    nonce), reported as one result."""
    load = load_average()
    commits_before = commit_figures(base_url) if target.startswith("vigil") else None
    tree = process_tree(pid) if pid else []
    cpu_before = {p: cpu_seconds(p) for p in tree}
    parts: list[Result] = []
    with rss_sampler(pid) as samples:
        for window in range(options.windows):
            if window and renew is not None and not scenario.repeat:
                template = renew()
            raw = run_wrk(
                base_url=base_url,
                template=template,
                scenario=scenario,
                duration=options.duration,
                concurrency=connections,
                threads=options.threads,
                workdir=workdir,
                rate=rate,
            )
            parts.append(to_result(target, scenario, raw, [], rate))
            if options.windows > 1:
                print(
                    f"  {target} {scenario.name} window {window + 1}: "
                    f"{parts[-1].alerts_per_s:,.0f} alerts/s, p99 {parts[-1].p99_ms:.1f} ms",
                    flush=True,
                )
    result = combine(parts, samples)
    result.connections = connections
    alerts = result.requests * scenario.batch
    if alerts:
        used = {p: cpu_seconds(p) - cpu_before[p] for p in tree}
        result.server_cpu_us_per_alert = round(sum(used.values()) * 1e6 / alerts, 1)
        for p, seconds in used.items():
            role = process_role(p, is_root=p == pid)
            by_role = result.cpu_us_per_alert_by_process
            by_role[role] = round(by_role.get(role, 0.0) + seconds * 1e6 / alerts, 1)
    result.load_before = load
    if commits_before is not None:
        commits_after = commit_figures(base_url)
        commits = commits_after[0] - commits_before[0]
        if commits > 0:
            result.requests_per_commit = round((commits_after[1] - commits_before[1]) / commits, 1)
            result.commit_ms = round((commits_after[2] - commits_before[2]) * 1e3 / commits, 2)
    print(format_row(result), flush=True)
    if len(result.cpu_us_per_alert_by_process) > 1:
        split = ", ".join(f"{r} {v:.0f}" for r, v in result.cpu_us_per_alert_by_process.items())
        print(f"  CPU us/alert by process: {split}", flush=True)
    if result.requests_per_commit is not None:
        print(
            f"  commits: {result.requests_per_commit:g} requests each, {result.commit_ms:g} ms",
            flush=True,
        )
    return result


def commit_figures(base_url: str) -> tuple[float, float, float]:
    """Vigil's group commits so far, from its /metrics: (commits, requests, seconds)."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    figures = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in (
            "vigil_ingest_commit_requests_count",
            "vigil_ingest_commit_requests_sum",
            "vigil_ingest_commit_seconds_sum",
        ):
            figures[name] = float(value)
    return (
        figures.get("vigil_ingest_commit_requests_count", 0.0),
        figures.get("vigil_ingest_commit_requests_sum", 0.0),
        figures.get("vigil_ingest_commit_seconds_sum", 0.0),
    )


def process_role(pid: int, *, is_root: bool) -> str:
    """What a process of the server does, from its command line: `vigil serve`'s own HTTP
    process (the root), its worker, its ingest writer, or another HTTP process."""
    if is_root:
        return "http"
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "other"
    for role in (b"worker", b"ingest-writer"):
        if role in argv:
            return role.decode()
    return "http" if b"--http-child" in argv else "other"


def combine(parts: list[Result], rss: list[float]) -> Result:
    """Windows of one scenario as one result: rates over their whole time, the worst p99."""
    first = parts[0]
    if len(parts) == 1:
        first.peak_rss_mb = round(max(rss), 1) if rss else None
        return first
    seconds = sum(p.duration_s for p in parts)
    requests = sum(p.requests for p in parts)
    return Result(
        target=first.target,
        scenario=first.scenario,
        batch=first.batch,
        duration_s=round(seconds, 2),
        requests=requests,
        failed=sum(p.failed for p in parts),
        requests_per_s=round(requests / seconds, 1),
        alerts_per_s=round(requests * first.batch / seconds, 1),
        p50_ms=sorted(p.p50_ms for p in parts)[len(parts) // 2],
        p90_ms=max(p.p90_ms for p in parts),
        p99_ms=max(p.p99_ms for p in parts),
        max_ms=max(p.max_ms for p in parts),
        peak_rss_mb=round(max(rss), 1) if rss else None,
        offered_rps=first.offered_rps,
        first_error=next((p.first_error for p in parts if p.first_error), ""),
        notes=[f"{len(parts)} windows: " + ", ".join(f"{p.alerts_per_s:.0f}" for p in parts)],
    )


def run_alertmanager(options: Options, workdir: Path, binary: str) -> list[Result]:
    results: list[Result] = []
    wanted = [s for s in options.scenarios if s.compare_alertmanager]
    for group_by, grouped in (("alertname", True), ("...", False)):
        chosen = [s for s in wanted if s.grouped == grouped]
        if not chosen:
            continue
        server = Alertmanager(binary, workdir, group_by, options.am_group_wait)
        server.start()
        try:
            for scenario in chosen:

                def renew() -> Template:
                    nonce = uuid.uuid4().hex[:8]
                    return make_template("prometheus", path="/api/v2/alerts", nonce=nonce)

                results.append(
                    measure(
                        target="alertmanager",
                        base_url=server.base_url,
                        pid=server.pid,
                        scenario=scenario,
                        template=renew(),
                        options=options,
                        workdir=workdir,
                        renew=renew,
                    )
                )
        finally:
            server.stop()
    return results


def vigil_template(scenario: Scenario, keys: dict[str, str], nonce: str) -> Template:
    if scenario.fmt == "prometheus":
        path = f"/integrations/prometheus/{keys['prometheus']}/api/v2/alerts"
    elif scenario.fmt == "alertmanager":
        path = f"/integrations/alertmanager/{keys['alertmanager']}"
    else:
        path = "/v2/enqueue"
    return make_template(scenario.fmt, path=path, nonce=nonce, routing_key=keys["pagerduty"])


def run_vigil(options: Options, workdir: Path, server: Vigil) -> list[Result]:
    """Every scenario against one prepared Vigil; the server runs only for these."""
    target = f"vigil-{server.database}"
    results: list[Result] = []
    try:
        server.launch()
        if options.warmup > 0:
            _id, keys = server.create_service("bench-warmup", grouped=True)
            warm = SCENARIOS[0]
            run_wrk(
                base_url=server.base_url,
                template=vigil_template(warm, keys, uuid.uuid4().hex[:8]),
                scenario=warm,
                duration=options.warmup,
                concurrency=options.concurrency[0],
                threads=options.threads,
                workdir=workdir,
            )
        for scenario in options.scenarios:
            rate = None
            connections = None
            if scenario.paced_from:
                base = next(
                    (
                        r
                        for r in results
                        if r.scenario == scenario.paced_from and r.target == target
                    ),
                    None,
                )
                if base is None:
                    print(f"  skip {scenario.name}: run {scenario.paced_from} too", flush=True)
                    continue
                rate = base.requests_per_s / 2
                connections = base.connections
            service_id, keys = server.create_service(
                f"bench-{scenario.name}", grouped=scenario.grouped
            )

            def renew(scenario: Scenario = scenario, keys: dict[str, str] = keys) -> Template:
                return vigil_template(scenario, keys, uuid.uuid4().hex[:8])

            result = measure(
                target=target,
                base_url=server.base_url,
                pid=server.pid,
                scenario=scenario,
                template=renew(),
                options=options,
                workdir=workdir,
                rate=rate,
                connections=connections,
                renew=renew,
            )
            if server.proc is not None and server.proc.poll() is not None:
                # Seen on a shared machine: something else killed the server mid-run.
                note = f"vigil serve exited with {server.proc.returncode} during {scenario.name}"
                print(f"  {note}; restarting it", flush=True)
                result.notes.append(note)
                results.append(result)
                server.launch()
                continue
            primed = REPEAT_KEYS if scenario.repeat else 0
            result.applied_alerts = server.applied_events(service_id) - primed
            if result.applied_alerts < result.all_requests * scenario.batch:
                result.notes.append(
                    f"LOST: {result.all_requests * scenario.batch} alerts got a 2xx, "
                    f"{result.applied_alerts} are in the database"
                )
            results.append(result)
        peak = server.peak_rss()
        print(f"  {target}: largest VmHWM of a vigil serve process = {peak:.0f} MB", flush=True)
        for result in results:
            result.notes.append(f"process VmHWM {peak:.0f} MB")
    except Exception:
        print(f"{target} failed; last lines of its log:\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        server.stop()
    return results


# ---------------------------------------------------------------------------------------------
# Reporting


HEADER = (
    f"{'target':<17} {'scenario':<23} {'alerts/s':>9} {'req/s':>8} {'p50 ms':>7} "
    f"{'p99 ms':>7} {'fail':>5} {'RSS MB':>7} {'CPU us/alert':>12} {'load':>5} {'conns':>5}"
)


def format_row(r: Result) -> str:
    rss = f"{r.peak_rss_mb:.0f}" if r.peak_rss_mb is not None else "-"
    cpu = f"{r.server_cpu_us_per_alert:.0f}" if r.server_cpu_us_per_alert is not None else "-"
    load = f"{r.load_before:.1f}" if r.load_before is not None else "-"
    line = (
        f"{r.target:<17} {r.scenario:<23} {r.alerts_per_s:>9.0f} {r.requests_per_s:>8.0f} "
        f"{r.p50_ms:>7.1f} {r.p99_ms:>7.1f} {r.failed:>5} {rss:>7} {cpu:>12} {load:>5} "
        f"{r.connections:>5}"
    )
    if r.offered_rps:
        line += f"  (offered {r.offered_rps:.0f} req/s)"
    if r.first_error:
        line += f"  first error: {r.first_error[:120]}"
    return line


def find(results: list[Result], target: str, scenario: str) -> Result | None:
    return next((r for r in results if r.target == target and r.scenario == scenario), None)


def verdicts(results: list[Result], databases: list[str]) -> list[tuple[str, str, str]]:
    """(target, measured, met / not met / n/a) for each target of the issue."""
    rows: list[tuple[str, str, str]] = []

    def ratio_check(label: str, scenario: str, minimum: float, db: str = "sqlite") -> None:
        vigil, am = find(results, f"vigil-{db}", scenario), find(results, "alertmanager", scenario)
        if vigil is None or am is None or am.alerts_per_s == 0:
            rows.append((label, "not measured", "n/a"))
            return
        ratio = vigil.alerts_per_s / am.alerts_per_s
        measured = f"{vigil.alerts_per_s:,.0f} vs {am.alerts_per_s:,.0f} alerts/s = {ratio:.2f}"
        rows.append((label, measured, "met" if ratio >= minimum else "NOT met"))

    ratio_check("SQLite, 100/request, grouped >= 1.0 x AM", "prom100-new-grouped", 1.0)
    ratio_check("SQLite, 100/request, ungrouped >= 1.0 x AM", "prom100-new-ungrouped", 1.0)
    ratio_check("SQLite, 1/request, grouped >= 0.5 x AM", "prom1-new-grouped", 0.5)
    ratio_check("SQLite, 1/request, ungrouped >= 0.5 x AM", "prom1-new-ungrouped", 0.5)
    for db in databases:
        for paced in ("prom1-half-grouped", "prom1-half-ungrouped"):
            r = find(results, f"vigil-{db}", paced)
            if r is not None:
                rows.append(
                    (
                        f"{db}: {paced} p99 < 50 ms",
                        f"p99 {r.p99_ms:.1f} ms at {r.requests_per_s:.0f} req/s",
                        "met" if r.p99_ms < 50 and r.failed == 0 else "NOT met",
                    )
                )
        for new, repeat in (
            ("prom1-new-grouped", "prom1-repeat-grouped"),
            ("prom100-new-grouped", "prom100-repeat-grouped"),
            ("pd1-new", "pd1-repeat"),
        ):
            a, b = find(results, f"vigil-{db}", new), find(results, f"vigil-{db}", repeat)
            if a is not None and b is not None:
                rows.append(
                    (
                        f"{db}: {repeat} >= {new}",
                        f"{b.alerts_per_s:,.0f} vs {a.alerts_per_s:,.0f} alerts/s",
                        "met" if b.alerts_per_s >= a.alerts_per_s else "NOT met",
                    )
                )
    if "postgresql" in databases and "sqlite" in databases:
        for pg in (r for r in results if r.target == "vigil-postgresql" and not r.offered_rps):
            lite = find(results, "vigil-sqlite", pg.scenario)
            if lite is not None and lite.alerts_per_s:
                ratio = pg.alerts_per_s / lite.alerts_per_s
                rows.append(
                    (
                        f"PostgreSQL >= 0.5 x SQLite: {pg.scenario}",
                        f"{pg.alerts_per_s:,.0f} vs {lite.alerts_per_s:,.0f} = {ratio:.2f}",
                        "met" if ratio >= 0.5 else "NOT met",
                    )
                )
    for db in databases:
        peaks = [r.peak_rss_mb for r in results if r.target == f"vigil-{db}" and r.peak_rss_mb]
        if peaks:
            rows.append(
                (
                    f"{db}: RSS < 200 MB",
                    f"peak sampled {max(peaks):.0f} MB",
                    "met" if max(peaks) < 200 else "NOT met",
                )
            )
    lost = [r for r in results if any(n.startswith("LOST") for n in r.notes)]
    rows.append(
        (
            "every 2xx alert is in the database",
            f"{len(lost)} scenario(s) lost alerts",
            "met" if not lost else "NOT met",
        )
    )
    return rows


def print_report(results: list[Result], databases: list[str], am_note: str) -> None:
    print("\n" + HEADER)
    for r in results:
        print(format_row(r))
    print(f"\n{am_note}")
    am_results = [r for r in results if r.target == "alertmanager"]
    if am_results:
        print("\nVigil / Alertmanager (alerts/s):")
        for am in am_results:
            ratios = []
            for db in databases:
                vigil = find(results, f"vigil-{db}", am.scenario)
                if vigil is not None and am.alerts_per_s:
                    ratios.append(f"{db} {vigil.alerts_per_s / am.alerts_per_s:.2f}")
            print(f"  {am.scenario:<23} {'  '.join(ratios)}")
    print("\nTargets:")
    for label, measured, verdict in verdicts(results, databases):
        print(f"  [{verdict:^7}] {label}: {measured}")


# ---------------------------------------------------------------------------------------------


def median_rounds(rounds: list[list[Result]]) -> list[Result]:
    """Each (target, scenario)'s median round, for the report and the verdicts: by rate, or by
    p99 for a paced scenario (with an even number of rounds, the lower of the two middle ones).
    Its notes list every round's figure; what must hold in every round (no alert lost, the peak
    RSS) is carried over from all."""
    by_key: dict[tuple[str, str], list[Result]] = {}
    for results in rounds:
        for result in results:
            by_key.setdefault((result.target, result.scenario), []).append(result)
    chosen = []
    for measured in by_key.values():
        # A paced scenario's rate is set by the benchmark; what it measures is its p99.
        paced = measured[0].offered_rps is not None
        ranked = sorted(measured, key=lambda r: r.p99_ms if paced else r.alerts_per_s)
        median = ranked[(len(ranked) - 1) // 2]
        if len(measured) > 1:
            if paced:
                rates = ", ".join(f"p99 {r.p99_ms:.1f} ms" for r in measured)
            else:
                rates = ", ".join(f"{r.alerts_per_s:,.0f}" for r in measured)
            median.notes.append(f"median of {len(measured)} rounds: {rates}")
            median.notes += [n for r in measured if r is not median for n in r.notes if "LOST" in n]
            peaks = [r.peak_rss_mb for r in measured if r.peak_rss_mb]
            median.peak_rss_mb = max(peaks) if peaks else None
        chosen.append(median)
    return chosen


def print_round_ratios(rounds: list[list[Result]], databases: list[str]) -> None:
    """Vigil / Alertmanager per round: how far one run's ratio can be trusted."""
    print("\nVigil / Alertmanager by round:")
    for am in (r for r in rounds[0] if r.target == "alertmanager"):
        cells = []
        for db in databases:
            ratios = []
            for results in rounds:
                vigil = find(results, f"vigil-{db}", am.scenario)
                alertmanager = find(results, "alertmanager", am.scenario)
                if vigil is not None and alertmanager is not None and alertmanager.alerts_per_s:
                    ratios.append(f"{vigil.alerts_per_s / alertmanager.alerts_per_s:.2f}")
            cells.append(f"{db} {' / '.join(ratios)}")
        print(f"  {am.scenario:<23} {'  '.join(cells)}")


def paced_after_twins(scenarios: list[Scenario]) -> list[Scenario]:
    """Each paced scenario right after its saturated twin (it needs the twin's rate, and it should
    share the twin's background: see SCENARIOS), or last when its twin was not asked for."""
    paced = [s for s in scenarios if s.paced_from]
    ordered: list[Scenario] = []
    for scenario in scenarios:
        if scenario.paced_from:
            continue
        ordered.append(scenario)
        ordered += [p for p in paced if p.paced_from == scenario.name]
    return ordered + [p for p in paced if p not in ordered]


# 16 connections left Vigil on PostgreSQL half idle (waiting on commits) and Alertmanager short
# of both cores; 256 saturated both on a 2-core machine (docs/PERFORMANCE.md, session 14).
DEFAULT_CONCURRENCY = (16, 64, 256)
QUICK_CONCURRENCY = (16,)


def connection_levels(text: str) -> tuple[int, ...]:
    """`--concurrency`: one number of connections or several, comma-separated."""
    try:
        levels = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError(f"at least one number of connections, each >= 1: {text!r}")
    return levels


def parse_args(argv: list[str] | None) -> tuple[Options, str | None, bool]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument(
        "--concurrency",
        type=connection_levels,
        help="open connections, or several, comma-separated: each saturated scenario runs "
        f"with each, and its rate is the best (default: {','.join(map(str, DEFAULT_CONCURRENCY))}; "
        "--quick: 16)",
    )
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (client CPU)")
    parser.add_argument(
        "--scenarios",
        default="",
        help="comma-separated names (default: all): " + ", ".join(s.name for s in SCENARIOS),
    )
    parser.add_argument("--quick", action="store_true", help="1 s per scenario, a core subset")
    parser.add_argument("--no-alertmanager", action="store_true", help="skip Alertmanager")
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN_URL)
    parser.add_argument("--json", dest="json_path", help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, DB)")
    parser.add_argument(
        "--vigil-src",
        type=Path,
        help="run Vigil from this src/ (PYTHONPATH) instead of the venv's editable install",
    )
    parser.add_argument(
        "--http-processes",
        type=int,
        default=1,
        help="vigil serve --http-processes (default 1, as vigil serve itself; 0: one per core)",
    )
    parser.add_argument(
        "--am-group-wait",
        default="1s",
        help="Alertmanager's group_wait (default 1s, so the notification work it defers falls "
        "inside each measurement; 30s is its usual setting)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run everything this many times, each round on fresh databases, and judge the "
        "targets on each scenario's median round (odd numbers: 3)",
    )
    parser.add_argument(
        "--windows",
        type=int,
        default=1,
        help="run each scenario as this many back-to-back windows of --duration on fresh "
        "alerts, printing each (a sustained run: --duration 5 --windows 12)",
    )
    args = parser.parse_args(argv)
    names = [n for n in args.scenarios.split(",") if n] or (
        QUICK if args.quick else [s.name for s in SCENARIOS]
    )
    by_name = {s.name: s for s in SCENARIOS}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    chosen = paced_after_twins([by_name[n] for n in names])
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    options = Options(
        databases=databases,
        scenarios=chosen,
        duration=1.0 if args.quick and args.duration == 10.0 else args.duration,
        concurrency=args.concurrency or (QUICK_CONCURRENCY if args.quick else DEFAULT_CONCURRENCY),
        threads=args.threads,
        alertmanager=not args.no_alertmanager,
        pg_admin_url=args.pg_admin_url,
        warmup=0.0 if args.quick else 2.0,
        vigil_src=args.vigil_src.resolve() if args.vigil_src else None,
        http_processes=args.http_processes,
        am_group_wait=args.am_group_wait,
        windows=max(1, args.windows),
        rounds=max(1, args.rounds),
    )
    return options, args.json_path, args.keep


def main(argv: list[str] | None = None) -> int:
    options, json_path, keep = parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench/ingest.py needs wrk: apt-get install wrk", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    rounds: list[list[Result]] = []
    binary = alertmanager_binary()
    if not options.alertmanager:
        am_note = "Alertmanager: skipped (--no-alertmanager)."
    elif binary is None:
        am_note = "Alertmanager: skipped, not installed (apt-get install prometheus-alertmanager)."
    else:
        am_note = (
            f"Alertmanager: {alertmanager_version(binary)}; group_wait {options.am_group_wait}"
        )
    print(
        f"wrk -t{options.threads} -c{','.join(map(str, options.concurrency))}, "
        f"{options.duration:g} s per scenario and number of connections; "
        f"vigil serve --http-processes {options.http_processes}; "
        f"{os.cpu_count()} CPUs; {am_note}\n{HEADER}",
        flush=True,
    )
    servers = [
        Vigil(database, workdir, options.pg_admin_url, options.vigil_src, options.http_processes)
        for database in options.databases
    ]
    try:
        for number in range(1, options.rounds + 1):
            if options.rounds > 1:
                print(f"round {number} of {options.rounds}", flush=True)
            # Migrating and seeding is CLI start-up time, not load: all databases at once.
            with ThreadPoolExecutor() as pool:
                for done in [pool.submit(server.prepare) for server in servers]:
                    done.result()
            results: list[Result] = []
            if options.alertmanager and binary is not None:
                results += run_alertmanager(options, workdir, binary)
            for server in servers:
                results += run_vigil(options, workdir, server)
            rounds.append(results)
    finally:
        for server in servers:
            server.stop()
        if keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results = median_rounds(rounds)
    if len(rounds) > 1:
        print_round_ratios(rounds, options.databases)
    print_report(results, options.databases, am_note)
    if json_path:
        Path(json_path).write_text(
            json.dumps(
                {
                    "options": {
                        "databases": options.databases,
                        "duration": options.duration,
                        "concurrency": list(options.concurrency),
                        "threads": options.threads,
                        "am_group_wait": options.am_group_wait,
                        "windows": options.windows,
                        "rounds": options.rounds,
                    },
                    "alertmanager": am_note,
                    "results": [asdict(r) for r in results],
                    "rounds": [[asdict(r) for r in results] for results in rounds],
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
