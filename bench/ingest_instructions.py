"""Instructions per alert of the ingest hot path, counted by callgrind: a measure that does not
move with the machine.

On the shared 2-core machines Vigil is developed on, the same code's throughput moved by a third
from one minute to the next (a plain Python loop took 180 to 340 ms), so `ingest.py` can only
judge a change by many interleaved turns. Instruction counts are the same in every run to a
fraction of a percent. They leave out what the kernel does (system calls, the page cache) and
how fast each instruction is, so they complement `ingest.py`'s throughput, never replace it.

Each shape runs in a child process under `valgrind --tool=callgrind`, which counts only inside
`functools.reduce`: the measured part runs inside one call of it, after the warm-up.

- `writer-1x8`, `writer-1x16`, `writer-1x1`: commits of 8 (16, 1) single-alert requests,
  grouped by alertname over 10 alertnames, as `vigil serve`'s ingest writer makes them
  (events decoded from the HTTP process's wire form first, outside the count).
- `writer-100x8`, `writer-100x8-ungrouped`: commits of 8 requests of 100 alerts.
- `http-1`: the HTTP process's side of a single-alert Prometheus request: uvicorn's httptools
  protocol on an in-memory transport, Vigil's app, and its connection to the writer, which an
  in-process stand-in answers at once (its own decoding and answering are counted too).
- `http-100`: the same for requests of 100 alerts, counted per alert.

    apt-get install -y valgrind
    .venv/bin/python bench/ingest_instructions.py                    # every shape, ~8 minutes
    .venv/bin/python bench/ingest_instructions.py --shapes writer-1x8,http-1
    .venv/bin/python bench/ingest_instructions.py --vigil-src /tmp/base/src   # another commit
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
WRITER_SHAPES = {
    # name: (alerts per request, requests per commit, grouped, measured commits)
    "writer-1x1": (1, 1, True, 40),
    "writer-1x8": (1, 8, True, 10),
    "writer-1x16": (1, 16, True, 8),
    "writer-100x8": (100, 8, True, 3),
    "writer-100x8-ungrouped": (100, 8, False, 2),
}
# name: (alerts per request, requests per connection, connections)
HTTP_SHAPES = {"http-1": (1, 50, 8), "http-100": (100, 10, 4)}
SHAPES = [*WRITER_SHAPES, *HTTP_SHAPES]
COUNTED = "COUNTED "  # the child's line: how many alerts (or requests) the count covers


# ---------------------------------------------------------------------------------------------
# Children: the measured work


def settle_heap() -> None:
    """Before the measured part, tune the collector as `vigil serve`'s processes do once started
    (collect, freeze what is left, collect the young less often). Without it, a full collection
    walks every object the process holds (~190,000 here): one that happened to fall inside a
    measured window of three commits added a fifth to writer-100x8's count, and adding a
    table's model (more objects) was enough to move it in or out."""
    from vigil.cli import processes

    processes.freeze_startup_objects()


def writer_child(shape: str) -> None:
    import functools
    import pickle

    sys.path.insert(0, str(ROOT / "bench"))
    import ingest_cost

    size, per_commit, grouped, rounds = WRITER_SHAPES[shape]
    bench = ingest_cost.setup(None, "vigil-instructions-")
    from vigil.integrations.writer import IngestJob

    key = bench.service_key(
        "instructions", grouping_mode="labels" if grouped else "none", integration="prometheus"
    )
    counter = 0

    def jobs() -> list[IngestJob]:
        nonlocal counter
        made = []
        for _ in range(per_commit):
            body = ingest_cost.body(counter, size)
            counter += size
            events = bench.parse(body)
            # As the writer process receives them: through the wire form.
            events = pickle.loads(pickle.dumps(events, protocol=pickle.HIGHEST_PROTOCOL))
            made.append(IngestJob(key=key, events=events, reply_to=ingest_cost.NOWHERE))
        return made

    for _ in range(30):  # warm up: statement caches, the page cache, the first incidents
        bench.writer.commit(jobs())
    batches = [jobs() for _ in range(rounds)]
    settle_heap()
    functools.reduce(lambda _, batch: bench.writer.commit(batch), batches, None)
    print(f"{COUNTED}{rounds * per_commit * size}", flush=True)
    bench.db.dispose()


def http_child(shape: str) -> None:
    import asyncio
    import functools
    import pickle
    import struct

    os.environ["VIGIL_DATA_DIR"] = tempfile.mkdtemp(prefix="vigil-instructions-")
    sys.path.insert(0, str(ROOT / "bench"))
    import uvicorn
    import uvloop
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.server import ServerState

    import ingest_cost
    from vigil.alerts.events import AlertEvent
    from vigil.api.app import create_app
    from vigil.config import get_settings
    from vigil.integrations import remote
    from vigil.integrations.ingest import IngestResult

    size, per_connection, connections = HTTP_SHAPES[shape]
    socket_path = str(Path(os.environ["VIGIL_DATA_DIR"]) / "writer.sock")
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    app = create_app(get_settings(), ingest_socket=socket_path)
    config = uvicorn.Config(app, http="httptools", lifespan="off", log_level="warning")
    config.load()
    state = ServerState()
    length = struct.Struct(">I")
    decode = getattr(sys.modules["vigil.alerts.events"], "from_wire", None)

    async def stand_in_writer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answers each request at once, as the writer process would after its commit."""
        while True:
            try:
                (size,) = length.unpack(await reader.readexactly(4))
            except asyncio.IncompleteReadError:
                return
            number, _key, events = pickle.loads(await reader.readexactly(size))
            events = [e if isinstance(e, AlertEvent) else decode(e) for e in events]
            result = IngestResult(dedup_keys=[e.dedup_key for e in events], alerts_created=1)
            writer.write(remote.encode((0.001, [(number, remote._portable(result))])))

    class Transport(asyncio.Transport):
        def __init__(self) -> None:
            super().__init__()
            self.closed = False

        def get_extra_info(self, name: str, default: object = None) -> object:
            addresses = {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 50000)}
            return addresses.get(name, default)

        def write(self, data: bytes) -> None:  # the response: nobody reads it
            pass

        def is_closing(self) -> bool:
            return self.closed

        def close(self) -> None:
            self.closed = True

        def pause_reading(self) -> None:
            pass

        def resume_reading(self) -> None:
            pass

    sent = 0

    def request() -> bytes:
        nonlocal sent
        sent += 1
        body = ingest_cost.body(sent * size, size)  # alerts as the writer shapes commit
        return (
            b"POST /integrations/prometheus/KEY/api/v2/alerts HTTP/1.1\r\n"
            b"Host: 127.0.0.1:8080\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        ) + body

    async def one_connection(count: int) -> None:
        protocol = HttpToolsProtocol(config, state, app_state={}, _loop=loop)
        protocol.connection_made(Transport())
        for _ in range(count):
            protocol.data_received(request())
            while protocol.cycle is not None and not protocol.cycle.response_complete:
                await asyncio.sleep(0)

    async def run(count: int) -> None:
        await asyncio.gather(*(one_connection(count) for _ in range(connections)))

    server = loop.run_until_complete(asyncio.start_unix_server(stand_in_writer, socket_path))
    loop.run_until_complete(run(20))  # warm up
    settle_heap()
    functools.reduce(lambda _, n: loop.run_until_complete(run(n)), [per_connection], None)
    print(f"{COUNTED}{per_connection * connections * size}", flush=True)
    server.close()


# ---------------------------------------------------------------------------------------------
# The parent: one callgrind run per shape


def count(shape: str, vigil_src: Path | None) -> tuple[int, int]:
    """(instructions, alerts or requests) of one shape."""
    with tempfile.TemporaryDirectory(prefix="vigil-callgrind-") as directory:
        out = Path(directory) / "callgrind.out"
        env = dict(os.environ)
        if vigil_src is not None:
            env["PYTHONPATH"] = str(vigil_src)
        proc = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--collect-atstart=no",
                "--toggle-collect=functools_reduce",
                # Per thread: only the measured (main) thread's count is taken. The SQLite
                # checkpointer's thread wakes every second, and whether its pass fell inside
                # the measured window moved writer-100x8 by a fifth from run to run.
                "--separate-threads=yes",
                f"--callgrind-out-file={out}",
                str(PYTHON),
                __file__,
                "--child",
                shape,
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        counted = re.search(rf"^{COUNTED}(\d+)$", proc.stdout, re.MULTILINE)
        main_thread = out.with_name(out.name + "-01")
        summary = (
            re.search(r"^summary: (\d+)$", main_thread.read_text(), re.MULTILINE)
            if main_thread.exists()
            else None
        )
        if proc.returncode != 0 or counted is None or summary is None:
            raise RuntimeError(
                f"{shape} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}"
            )
        return int(summary.group(1)), int(counted.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shapes", default=",".join(SHAPES), help="comma-separated: " + ", ".join(SHAPES)
    )
    parser.add_argument(
        "--vigil-src", type=Path, help="count another src/ (a git archive of a commit)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if args.child in HTTP_SHAPES:
            http_child(args.child)
        else:
            writer_child(args.child)
        return 0
    if shutil.which("valgrind") is None:
        print(
            "bench/ingest_instructions.py needs valgrind: apt-get install valgrind", file=sys.stderr
        )
        return 2
    shapes = [s for s in args.shapes.split(",") if s]
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        parser.error(f"unknown shapes: {', '.join(unknown)}")
    source = args.vigil_src.resolve() if args.vigil_src else None
    heading = f"{'shape':26} {'instructions':>14} {'per':>8}  {'instructions each':>18}"
    print(f"{heading}  ({source or 'working tree'})")
    for shape in shapes:
        instructions, units = count(shape, source)
        unit = "request" if shape == "http-1" else "alert"
        print(
            f"{shape:26} {instructions:14,} {units:>8}  {instructions / units:14,.0f} per {unit}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
