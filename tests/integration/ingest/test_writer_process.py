"""Inbound alerts committed by a writer in another process: the HTTP side hands them over a Unix
socket and answers only once the writer says they are committed, with the same answers and
errors as the writer thread. The writer side runs here on a thread, over a real socket."""

from __future__ import annotations

import asyncio
import pickle
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.payloads import pagerduty_trigger, prometheus_alert
from vigil.api.app import create_app
from vigil.clock import FakeClock
from vigil.config import Settings
from vigil.errors import Unavailable
from vigil.incidents.comms import command_config
from vigil.integrations.generic import parse_generic
from vigil.integrations.ingest import IngestResult
from vigil.integrations.remote import (
    MAX_FRAME_BYTES,
    IngestServer,
    _portable,
    answer_from_wire,
    request_frame,
)
from vigil.integrations.writer import IngestJob, IngestWriter
from vigil.notify.service import LinkConfig
from vigil.storage.db import Database


@pytest.fixture
def socket_path(tmp_path: Path) -> str:
    return str(tmp_path / "ingest.sock")


@pytest.fixture
def writer_server(
    db: Database, clock: FakeClock, settings: Settings, socket_path: str
) -> Iterator[IngestServer]:
    """What `vigil ingest-writer` runs, listening on a socket of this test."""
    links = LinkConfig(base_url=settings.base_url, secret="test")
    writer = IngestWriter(db, clock, command_config(settings, links), on_paging=lambda: None)
    server = IngestServer(writer, socket_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def remote_app(db: Database, clock: FakeClock, settings: Settings, socket_path: str) -> FastAPI:
    return create_app(settings, db=db, clock=clock, ingest_socket=socket_path)


def test_alerts_handed_to_the_writer_process_open_one_grouped_incident(
    remote_app: FastAPI, writer_server: IngestServer, auth: dict[str, str], key: str
) -> None:
    body = [prometheus_alert(instance=f"db-{n}:9100") for n in range(3)]
    with TestClient(remote_app) as client:
        response = client.post(f"/integrations/prometheus/{key}/api/v2/alerts", json=body)
        assert response.status_code == 200, response.text
        [incident] = client.get("/api/v1/incidents", headers=auth).json()["items"]
        assert incident["alert_count"] == 3


def test_an_unknown_key_answers_404_through_the_writer_process(
    remote_app: FastAPI, writer_server: IngestServer
) -> None:
    with TestClient(remote_app) as client:
        response = client.post("/integrations/generic/" + "x" * 32, json={"summary": "disk full"})
    assert response.status_code == 404
    assert "integration key" in response.json()["error"]


def test_concurrent_requests_each_get_their_own_answer_from_the_writer_process(
    remote_app: FastAPI, writer_server: IngestServer, key: str
) -> None:
    async def send_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=remote_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vigil.test") as http:
            return await asyncio.gather(
                *(
                    http.post("/v2/enqueue", json=pagerduty_trigger(key, dedup_key=f"disk-{n}"))
                    for n in range(40)
                )
            )

    responses = asyncio.run(send_all())
    assert [r.status_code for r in responses] == [202] * 40
    assert [r.json()["dedup_key"] for r in responses] == [f"disk-{n}" for n in range(40)]


def test_a_request_answers_503_while_the_writer_process_is_away(
    remote_app: FastAPI, key: str
) -> None:
    remote_app.state.ingest.connect_seconds = 0.2  # nothing listens on the socket
    with TestClient(remote_app) as client:
        response = client.post(f"/integrations/generic/{key}", json={"summary": "disk full"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "retry" in response.json()["error"]


def test_an_error_that_cannot_cross_to_the_http_process_becomes_a_503() -> None:
    class Unpicklable(Exception):
        def __reduce__(self) -> Any:
            raise TypeError("holds a connection")

    answer = _portable(Unpicklable("boom"))
    assert isinstance(answer, Unavailable)
    assert "Unpicklable" in answer.message
    result = IngestResult(dedup_keys=["a"], alerts_created=1, paging_started=True)
    assert answer_from_wire(pickle.loads(pickle.dumps(_portable(result)))) == result


def test_the_writer_process_finishes_what_it_was_sent_before_it_stops(
    db: Database, clock: FakeClock, settings: Settings, socket_path: str, key: str
) -> None:
    links = LinkConfig(base_url=settings.base_url, secret="test")
    started = threading.Event()
    release = threading.Event()

    class SlowWriter(IngestWriter):
        def commit(self, batch: Any) -> None:
            started.set()
            release.wait(5)
            super().commit(batch)

    server = IngestServer(
        SlowWriter(db, clock, command_config(settings, links), on_paging=lambda: None),
        socket_path,
    )
    server.start()
    app = create_app(settings, db=db, clock=clock, ingest_socket=socket_path)
    with TestClient(app) as client:
        answers: list[int] = []
        sender = threading.Thread(
            target=lambda: answers.append(
                client.post(f"/integrations/generic/{key}", json={"summary": "a"}).status_code
            )
        )
        sender.start()
        assert started.wait(5)
        stopping = threading.Thread(target=server.stop)
        stopping.start()
        release.set()
        stopping.join(10)
        sender.join(10)
    assert answers == [202]


def _raw_request(number: int, key: str, summary: str) -> bytes:
    """One request as an HTTP process frames it on the socket."""
    events = parse_generic({"summary": summary}, body_size=64, raw_limit=1024)
    return request_frame(number, key, events)


def _connect(socket_path: str) -> socket.socket:
    """A raw connection to the writer, as an HTTP process opens it."""
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(socket_path)
    return sock


def _read_answers(sock: socket.socket, count: int) -> dict[int, Any]:
    """The answers of `count` requests, by request number, read off a raw connection."""
    stream = sock.makefile("rb")
    answers: dict[int, Any] = {}
    while len(answers) < count:
        (length,) = struct.unpack(">I", stream.read(4))
        _seconds, pairs = pickle.loads(stream.read(length))
        answers.update((number, answer_from_wire(a)) for number, a in pairs)
    return answers


def test_requests_split_across_reads_and_connections_are_each_answered(
    writer_server: IngestServer, socket_path: str, key: str
) -> None:
    with _connect(socket_path) as first, _connect(socket_path) as second:
        frames = b"".join(_raw_request(n, key, f"disk {n}") for n in range(1, 4))
        for offset in range(0, len(frames), 7):  # a few bytes at a time
            first.sendall(frames[offset : offset + 7])
            time.sleep(0.001)
        second.sendall(_raw_request(9, key, "disk 9"))
        first_answers = _read_answers(first, 3)
        second_answers = _read_answers(second, 1)
    assert sorted(first_answers) == [1, 2, 3]
    assert all(isinstance(a, IngestResult) for a in first_answers.values())
    assert isinstance(second_answers[9], IngestResult)


def test_an_oversized_frame_closes_only_its_own_connection(
    writer_server: IngestServer, socket_path: str, key: str
) -> None:
    with _connect(socket_path) as bad, _connect(socket_path) as good:
        bad.sendall(struct.pack(">I", MAX_FRAME_BYTES + 1))
        assert bad.recv(16) == b""  # closed by the writer
        good.sendall(_raw_request(1, key, "still served"))
        assert isinstance(_read_answers(good, 1)[1], IngestResult)


def test_details_links_and_raw_payload_stored_by_the_writer_process_read_back_as_sent(
    remote_app: FastAPI, writer_server: IngestServer, auth: dict[str, str], key: str
) -> None:
    sent = prometheus_alert(instance="db-7:9100")
    with TestClient(remote_app) as client:
        response = client.post(f"/integrations/prometheus/{key}/api/v2/alerts", json=[sent])
        assert response.status_code == 200, response.text
        [listed] = client.get("/api/v1/alerts", headers=auth).json()["items"]
        alert = client.get(f"/api/v1/alerts/{listed['id']}", headers=auth).json()
    assert alert["details"]["annotations"] == sent["annotations"]
    assert alert["links"] == [{"href": sent["generatorURL"], "text": "Source"}]
    assert alert["raw_payload"]["labels"] == sent["labels"]


def test_a_flood_is_committed_in_bounded_commits_and_every_request_answered(
    db: Database, clock: FakeClock, settings: Settings, key: str
) -> None:
    links = LinkConfig(base_url=settings.base_url, secret="test")
    commits: list[int] = []

    class CountingWriter(IngestWriter):
        def commit(self, batch: Any) -> None:
            commits.append(sum(len(job.events) for job in batch))
            super().commit(batch)

    writer = CountingWriter(
        db, clock, command_config(settings, links), on_paging=lambda: None, max_events=3
    )
    answered: list[IngestJob] = []

    class Collect:
        def deliver(self, jobs: list[IngestJob]) -> None:
            answered.extend(jobs)

    jobs = [
        IngestJob(
            key=key,
            events=[_generic_event(f"disk {n}-{i}") for i in range(2)],
            reply_to=Collect(),
        )
        for n in range(4)
    ]
    writer.commit_and_answer(jobs)

    assert commits == [2, 2, 2, 2]
    assert answered == jobs
    assert all(isinstance(job.answer, IngestResult) for job in jobs)


def _generic_event(summary: str) -> Any:
    [event] = parse_generic({"summary": summary}, body_size=64, raw_limit=1024)
    return event
