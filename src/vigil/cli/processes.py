"""Several HTTP processes of `vigil serve` on one port: the process the user started (the primary)
serves, supervises the embedded worker and starts the others as its children. Each process
listens on a socket of its own bound to the same address (SO_REUSEPORT) and the kernel spreads
new connections over them, so each interpreter gets a core of its own."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from vigil.cli.client import CliError

log = logging.getLogger("vigil.serve")

BACKLOG = 2048  # uvicorn's default
YOUNG_COLLECTION_EVERY = 10_000  # allocations between two collections of the youngest objects


def process_count(requested: int) -> int:
    """How many HTTP processes `requested` stands for: 0 is one per CPU core."""
    return requested if requested > 0 else os.cpu_count() or 1


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port that this user's other processes may bind as well."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise CliError("several HTTP processes need SO_REUSEPORT, which this system lacks")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock


def freeze_startup_objects() -> None:
    """Leave the objects made at start-up (modules, the app, its routes and models) out of the
    garbage collector's full passes from now on.

    A long-running process that allocates steadily (an alert storm parses thousands of dicts a
    second) runs a full collection every half second or so, and each one walked the few hundred
    thousand objects that FastAPI, SQLAlchemy and pydantic leave behind at import: tens of
    milliseconds in which the process answered nothing (the HTTP processes) or held the write
    lock (the ingest writer). Those objects live as long as the process anyway.

    The youngest generation is collected every 10,000 allocations instead of 700: a request of
    100 alerts allocates thousands of objects that live until it is answered, and each early
    collection moved them along to be walked again in the older generations (batches of 100:
    +7% in turns).
    """
    gc.collect()
    gc.freeze()
    _threshold, *older = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *older)


def run(server: uvicorn.Server, sockets: list[socket.socket] | None = None) -> None:
    """Serve until told to stop, as `uvicorn.run` does, on `sockets` when given.

    SIGTERM stops it as Ctrl-C does: uvicorn raises the signal again once it has shut down, and
    SIGTERM's default action would end the process before the primary stops its children.
    """
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    freeze_startup_objects()
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=sockets)
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def stop_at_end_of_input(server: uvicorn.Server) -> threading.Thread:
    """A child's end of `HttpProcesses`: stop serving when stdin ends, which it does when the
    primary stops the child and when the primary dies."""
    return at_end_of_input(lambda: setattr(server, "should_exit", True))


def at_end_of_input(then: Callable[[], None]) -> threading.Thread:
    """Call `then` once stdin ends: how a supervised child (an extra HTTP process, the ingest
    writer) learns that its parent stopped it or died."""

    def read() -> None:
        with contextlib.suppress(OSError):
            while os.read(0, 4096):
                pass
        then()

    thread = threading.Thread(target=read, name="vigil-parent-pipe", daemon=True)
    thread.start()
    return thread


def wake_through(fd: int) -> Callable[[], None]:
    """A child's `app.state.wake`: a byte down the pipe to the primary, which wakes the worker.
    It never blocks: a full pipe already holds a wake-up."""
    os.set_blocking(fd, False)

    def wake() -> None:
        with contextlib.suppress(OSError):  # full pipe, or the primary is gone
            os.write(fd, b"w")

    return wake


class HttpProcesses:
    """The primary's extra HTTP processes (`vigil serve --http-child`, no worker of their own).

    Like the embedded worker, each child reads a pipe from the primary on its stdin: its end,
    also when the primary is killed, stops the child. The primary starts a new child when one
    dies, and stops them all on its way out (SIGTERM, then SIGKILL after a timeout). On SQLite a
    child's ingest writer wakes the worker when paging starts: the children share one pipe back
    to the primary, whose relay thread turns what arrives into `wake()`.
    """

    RESTART_DELAY = 1.0

    def __init__(self, argv: list[str], count: int, *, wake: Callable[[], None]) -> None:
        self.argv = argv
        self.count = count
        self.wake = wake
        # Both ends stay open in the primary for its whole life, so every child it ever starts
        # gets the same write end and the relay never sees the pipe end.
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)  # shared by all who hold it, as children set it
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._children: list[subprocess.Popen[bytes] | None] = [None] * count

    def start(self) -> None:
        threading.Thread(target=self._relay, name="vigil-wake-relay", daemon=True).start()
        for slot in range(self.count):
            process = self._spawn(slot)
            threading.Thread(
                target=self._supervise, args=(slot, process), name="vigil-http-child", daemon=True
            ).start()

    def _spawn(self, slot: int) -> subprocess.Popen[bytes] | None:
        with self._lock:  # never start a child that `stop` would miss
            if self._stopping.is_set():
                return None
            process = subprocess.Popen(
                [*self.argv, "--wake-fd", str(self._wake_write)],
                stdin=subprocess.PIPE,
                pass_fds=(self._wake_write,),
                # Its own session: Ctrl-C in the terminal reaches the primary, which stops it.
                start_new_session=True,
            )
            self._children[slot] = process
            return process

    def _supervise(self, slot: int, process: subprocess.Popen[bytes] | None) -> None:
        while process is not None:
            code = process.wait()
            if self._stopping.is_set():
                return
            log.error("HTTP process %s exited with %s; starting a new one", process.pid, code)
            if self._stopping.wait(self.RESTART_DELAY):
                return
            process = self._spawn(slot)

    def _relay(self) -> None:
        while True:
            try:
                os.read(self._wake_read, 4096)  # every byte waiting: one wake-up covers them
            except OSError:
                return
            if self._stopping.is_set():
                os.close(self._wake_read)
                os.close(self._wake_write)
                return
            try:
                self.wake()
            except Exception:  # the relay's boundary: a lost wake-up waits for the next cycle
                log.exception("waking the worker failed")

    def stop(self, timeout: float = 15.0) -> None:
        """Ask every child to stop, side by side; kill those still running after `timeout`."""
        with self._lock:
            self._stopping.set()
            children = [child for child in self._children if child is not None]
        for child in children:
            if child.stdin is not None:
                with contextlib.suppress(OSError):
                    child.stdin.close()
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + timeout
        for child in children:
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        with contextlib.suppress(OSError):
            os.write(self._wake_write, b"s")  # the relay sees `_stopping` and ends
