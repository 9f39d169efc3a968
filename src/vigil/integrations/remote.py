"""The ingest writer in a process of its own, and the HTTP processes' connection to it.

In one process, the HTTP event loop and the group-commit writer thread take turns on one
interpreter: each single-alert request cost about 130 µs on the loop and 200 µs in the writer,
one after the other, so a two-core machine served one request per 330 µs and left a core idle.
`vigil serve` therefore runs the writer (`vigil.integrations.writer`) in a child process:
its HTTP processes parse and validate each request, hand the events over a Unix socket, and
answer once the writer says they are committed, so a 2xx still means "committed".

The socket lives in a directory only this user can open, and carries pickles between processes
of one `vigil serve`: nothing else can connect, and nothing unvalidated crosses it. A frame is a
4-byte length and a pickle of plain values; a request is `(number, integration key, events)`
with each event as `AlertEvent.to_wire` gives it, an answer frame holds the commit's duration and
`[(number, IngestResult.to_wire() or an error), ...]` for every request of that commit from that
connection (the HTTP process puts the figures in its `/metrics`). When
the writer process is away (restarting after a crash), requests answer 503 so senders retry; a
retried alert is deduplicated like any repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import pickle
import selectors
import shutil
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vigil.alerts.events import AlertEvent, from_wire
from vigil.errors import Unavailable
from vigil.integrations.ingest import IngestResult
from vigil.integrations.writer import (
    COMMIT_REQUESTS,
    COMMIT_SECONDS,
    IngestJob,
    IngestWriter,
    settle,
)

log = logging.getLogger("vigil.ingest")

_LENGTH = struct.Struct(">I")
# A request may be as large as the body limit, and its events pickle a little larger.
MAX_FRAME_BYTES = 256 * 1024 * 1024
CONNECT_SECONDS = 10.0  # how long a request waits for a (re)starting writer before a 503


def encode(value: Any) -> bytes:
    """One frame: length, then the pickle."""
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


def request_frame(number: int, key: str, events: list[AlertEvent]) -> bytes:
    """One request as an HTTP process sends it to the writer process."""
    return encode((number, key, [event.to_wire() for event in events]))


def answer_from_wire(answer: Any) -> IngestResult | BaseException:
    """One request's answer as the writer process sent it (`_portable`)."""
    return IngestResult.from_wire(answer) if answer.__class__ is tuple else answer


def _portable(answer: IngestResult | BaseException | None) -> Any:
    """An answer that survives the trip: a result as plain values (`IngestResult.to_wire`),
    an error as itself, or, when it cannot be pickled (a driver's exception holding a
    connection), as a 503 naming it, which senders retry."""
    if isinstance(answer, IngestResult):
        return answer.to_wire()
    if not isinstance(answer, BaseException):
        return answer
    try:
        pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return Unavailable(f"the ingest writer failed: {type(answer).__name__}; retry")
    return answer


# ---------------------------------------------------------------------------------------------
# The socket's directory

SOCKET_DIR_PREFIX = "vigil-ingest-"
SOCKET_NAME = "ingest.sock"
_OWNER_FILE = "owner.pid"
# A directory without an owner file came from a Vigil before it wrote one: gone after a day.
_UNOWNED_STALE_SECONDS = 24 * 3600


def make_socket_dir(root: str | None = None) -> Path:
    """A directory only this user can enter, for the writer's socket, marked with our pid.

    `vigil serve` removes it when it ends; one that was killed (SIGKILL, a power cut) cannot, so
    each start first removes the directories whose `vigil serve` is gone.
    """
    remove_stale_socket_dirs(root)
    directory = Path(tempfile.mkdtemp(prefix=SOCKET_DIR_PREFIX, dir=root))
    (directory / _OWNER_FILE).write_text(str(os.getpid()))
    return directory


def remove_stale_socket_dirs(root: str | None = None, *, now: float | None = None) -> list[Path]:
    """Remove this user's socket directories whose owning process has ended; returns them."""
    removed = []
    now = time.time() if now is None else now
    for directory in Path(root or tempfile.gettempdir()).glob(SOCKET_DIR_PREFIX + "*"):
        try:
            if directory.is_symlink() or not directory.is_dir():
                continue
            if directory.stat().st_uid != os.getuid():
                continue
            if not _is_stale(directory, now):
                continue
        except OSError:  # another start removed it meanwhile
            continue
        shutil.rmtree(directory, ignore_errors=True)
        removed.append(directory)
    return removed


def _is_stale(directory: Path, now: float) -> bool:
    try:
        pid = int((directory / _OWNER_FILE).read_text().strip())
    except FileNotFoundError:
        return now - directory.stat().st_mtime > _UNOWNED_STALE_SECONDS
    except ValueError:  # a start killed between creating the directory and writing its pid
        return now - directory.stat().st_mtime > 60
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's (a reused pid): leave it
        return False
    return False


# ---------------------------------------------------------------------------------------------
# The writer process's side


class _Connection:
    """One HTTP process's connection: the bytes read so far, and where the answers go."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def frames(self) -> list[IngestJob] | None:
        """The requests complete in the buffer, taken out of it; None when a frame is too big
        (the connection is then closed)."""
        jobs = []
        offset = 0
        buffer = self.buffer
        while len(buffer) - offset >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(buffer, offset)
            if length > MAX_FRAME_BYTES:
                log.error("ingest connection sent a %d byte frame; closing it", length)
                return None
            end = offset + _LENGTH.size + length
            if len(buffer) < end:
                break
            number, key, events = pickle.loads(memoryview(buffer)[offset + _LENGTH.size : end])
            jobs.append(
                IngestJob(key=key, events=[from_wire(e) for e in events], reply_to=self, tag=number)
            )
            offset = end
        if offset:
            del buffer[:offset]
        return jobs

    def deliver(self, jobs: list[IngestJob]) -> None:
        answers = [(job.tag, _portable(job.answer)) for job in jobs]
        frame = encode((jobs[0].commit_seconds, answers))
        with contextlib.suppress(OSError):  # the HTTP process has gone away
            self.sock.sendall(frame)


_READ_BYTES = 256 * 1024
# What the socket holds between the HTTP process and the writer. Each pass of the writer commits
# what it finds there; with the usual 208 KiB, that was five requests of 100 alerts, whatever
# the number waiting, so batches were committed five at a time and the writer sat idle between
# its reads. The kernel caps it at net.core.wmem_max / rmem_max.
SOCKET_BUFFER_BYTES = 8 * 1024 * 1024


def _widen(sock: Any, option: int) -> None:
    """Ask for a socket buffer of SOCKET_BUFFER_BYTES (the kernel may grant less)."""
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER_BYTES)


def _connections(selector: selectors.BaseSelector) -> list[_Connection]:
    """The HTTP processes' connections registered with the selector."""
    return [key.data for key in selector.get_map().values() if key.data is not None]


class IngestServer:
    """Accepts the HTTP processes' connections on a Unix socket and commits their requests.

    One thread does everything: it waits for any connection to have data, reads every complete
    request that has arrived, commits them together (`IngestWriter.commit_and_answer`), answers,
    and waits again; what arrives during a commit is the next commit. A thread per connection
    feeding the writer's queue cost each request a hand-over between threads, and the commit
    thread then waited for the interpreter lock while readers unpickled: in single-alert
    storms that made a commit take twice as long in the server as alone.
    """

    def __init__(self, writer: IngestWriter, path: str) -> None:
        self.writer = writer
        self.path = path
        Path(path).unlink(missing_ok=True)  # left behind by a writer process that was killed
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(path)
        Path(path).chmod(0o600)
        self._listener.listen(128)
        self._listener.setblocking(False)
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="vigil-ingest-server", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _serve(self) -> None:
        # Each connection is registered with its `_Connection`; the listener and the wake-up
        # socket with None.
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ)
        selector.register(self._wake_reader, selectors.EVENT_READ)
        try:
            while not self._stopping.is_set():
                jobs: list[IngestJob] = []
                for key, _ in selector.select():
                    if key.data is not None:
                        jobs += self._read(key.data, selector)
                    elif key.fileobj is self._listener:
                        self._accept(selector)
                if jobs:
                    self.writer.commit_and_answer(jobs)
            # Stopping: commit and answer what has arrived, take nothing more.
            jobs = []
            for connection in _connections(selector):
                jobs += self._read(connection, selector)
            if jobs:
                self.writer.commit_and_answer(jobs)
        finally:
            for connection in _connections(selector):
                connection.sock.close()
            selector.close()

    def _accept(self, selector: selectors.BaseSelector) -> None:
        try:
            sock, _ = self._listener.accept()
        except OSError:  # gone meanwhile, or closed by stop()
            return
        sock.setblocking(False)
        _widen(sock, socket.SO_RCVBUF)
        selector.register(sock, selectors.EVENT_READ, _Connection(sock))

    def _read(self, connection: _Connection, selector: selectors.BaseSelector) -> list[IngestJob]:
        """Read what the connection has sent; its complete requests. A closed connection's
        complete requests are still committed: their senders cannot hear the answer, but a
        retry will be deduplicated."""
        closed = False
        while True:
            try:
                data = connection.sock.recv(_READ_BYTES)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                closed = True
                break
            if not data:
                closed = True
                break
            connection.buffer += data
            if len(data) < _READ_BYTES:
                break
        jobs = connection.frames()
        if jobs is None:
            closed, jobs = True, []
        if closed:
            selector.unregister(connection.sock)
            connection.sock.close()
        return jobs

    def stop(self) -> None:
        """Take no new connections, then commit and answer what has arrived."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"x")
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self._listener.close()
        Path(self.path).unlink(missing_ok=True)
        self._wake_reader.close()
        self._wake_writer.close()
        self.writer.stop()


# ---------------------------------------------------------------------------------------------
# The HTTP process's side


class RemoteIngestWriter:
    """`IngestWriter`'s `submit` for an HTTP process: the commit happens in the writer process.

    One connection per event loop (uvicorn runs one); requests written as they come, answers
    matched by number. A lost connection fails its waiting requests with 503 and is opened again
    by the next request.
    """

    def __init__(
        self,
        path: str,
        *,
        on_paging: Callable[[], None],
        connect_seconds: float = CONNECT_SECONDS,
    ) -> None:
        self.path = path
        self.on_paging = on_paging
        self.connect_seconds = connect_seconds
        self._numbers = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[IngestResult]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stream: asyncio.StreamWriter | None = None
        self._backlog: list[bytes] = []
        self._connecting: asyncio.Task[None] | None = None
        self._reading: asyncio.Task[None] | None = None

    def submit(self, key: str, events: list[AlertEvent]) -> asyncio.Future[IngestResult]:
        """Send one request; the future resolves once the writer process has committed it."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._reset(Unavailable("the ingest connection was reset; retry"))
            self._loop = loop
        future: asyncio.Future[IngestResult] = loop.create_future()
        number = next(self._numbers)
        self._waiting[number] = future
        self._backlog.append(request_frame(number, key, events))
        if self._stream is None:
            if self._connecting is None:
                self._connecting = loop.create_task(self._connect())
        elif len(self._backlog) == 1:
            # Requests handled in this turn of the loop go out together: a write to the socket
            # costs a system call, which on a virtual machine cost more than the pickling.
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        if self._stream is not None and self._backlog:
            self._stream.write(b"".join(self._backlog))
        self._backlog.clear()

    async def _connect(self) -> None:
        deadline = time.monotonic() + self.connect_seconds
        while True:
            try:
                reader, stream = await asyncio.open_unix_connection(self.path)
                break
            except OSError as exc:
                if time.monotonic() >= deadline:
                    log.error("cannot reach the ingest writer at %s: %s", self.path, exc)
                    self._connecting = None
                    self._fail(Unavailable("the ingest writer is not running; retry"))
                    return
                await asyncio.sleep(0.05)
        _widen(stream.get_extra_info("socket"), socket.SO_SNDBUF)
        self._stream = stream
        self._connecting = None
        self._flush()
        self._reading = asyncio.get_running_loop().create_task(self._read(reader, stream))

    async def _read(self, reader: asyncio.StreamReader, stream: asyncio.StreamWriter) -> None:
        try:
            while True:
                header = await reader.readexactly(_LENGTH.size)
                (length,) = _LENGTH.unpack(header)
                seconds, answers = pickle.loads(await reader.readexactly(length))
                # The commit's figures, in this process's /metrics: the writer has no HTTP port.
                COMMIT_SECONDS.observe(seconds)
                COMMIT_REQUESTS.observe(len(answers))
                paging = False
                for number, sent in answers:
                    answer = answer_from_wire(sent)
                    if isinstance(answer, IngestResult) and answer.paging_started:
                        paging = True
                    future = self._waiting.pop(number, None)
                    if future is not None:
                        settle(future, answer)
                if paging:
                    self.on_paging()
        except (asyncio.IncompleteReadError, OSError):
            pass
        if self._stream is stream:
            log.warning("the ingest writer closed its connection")
            self._stream = None
            self._reading = None
            self._fail(Unavailable("the ingest writer stopped before answering; retry"))
        stream.close()

    def _fail(self, error: Unavailable) -> None:
        waiting, self._waiting = self._waiting, {}
        self._backlog.clear()
        for future in waiting.values():
            with contextlib.suppress(RuntimeError):  # a future of an event loop that has closed
                settle(future, error)

    def _reset(self, error: Unavailable) -> None:
        for task in (self._connecting, self._reading):
            if task is not None and not task.get_loop().is_closed():
                task.get_loop().call_soon_threadsafe(task.cancel)
        if self._stream is not None:
            with contextlib.suppress(RuntimeError):  # its loop has closed
                self._stream.close()
        self._stream = None
        self._connecting = None
        self._reading = None
        self._fail(error)

    def stop(self) -> None:
        """Close the connection; the writer process finishes what it was sent."""
        self._reset(Unavailable("vigil is shutting down; retry"))
