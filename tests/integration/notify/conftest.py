"""Real receivers on 127.0.0.1 for the channel tests: an HTTP server that records requests and
answers as told, an aiosmtpd SMTP server, and a port nobody listens on."""

from __future__ import annotations

import socket
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Recorded:
    """One request as it arrived: the raw body is kept so signatures can be checked over it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b"ok"
    content_type: str = "text/plain"
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class HttpReceiver:
    """A ThreadingHTTPServer that records every POST and answers with the queued replies in order
    (then with `default`)."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.replies: deque[Reply] = deque()
        self.default = Reply()
        self.stopping = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                receiver.requests.append(
                    Recorded(
                        method="POST",
                        path=parts.path,
                        query=parts.query,
                        headers={k.lower(): v for k, v in self.headers.items()},
                        body=self.rfile.read(length),
                    )
                )
                reply = receiver.replies.popleft() if receiver.replies else receiver.default
                if reply.delay and receiver.stopping.wait(reply.delay):
                    return
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # A client that timed out has hung up; the late reply's broken pipe is expected, not news.
        self.server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        # A short poll interval keeps shutdown (once per test) from costing half a second.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def reply(self, status: int = 200, body: bytes | str = b"ok", **kwargs: Any) -> None:
        self.replies.append(
            Reply(status=status, body=body.encode() if isinstance(body, str) else body, **kwargs)
        )

    @property
    def last(self) -> Recorded:
        return self.requests[-1]


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    recv = HttpReceiver()
    recv.thread.start()
    try:
        yield recv
    finally:
        recv.stopping.set()
        recv.server.shutdown()
        recv.server.server_close()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that refuses connections."""
    return free_port()


class MailHandler:
    """Keeps accepted messages; setting `rcpt_reply` or `data_reply` makes it refuse instead."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.rcpt_reply: str | None = None
        self.data_reply: str | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply:
            return self.data_reply
        self.envelopes.append(envelope)
        return "250 2.0.0 Ok: queued"


@dataclass
class SmtpServer:
    handler: MailHandler
    port: int


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain SMTP server, as a local relay or mail catcher would be."""
    handler = MailHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(handler, port)
    finally:
        controller.stop()
