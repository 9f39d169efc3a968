"""`vigil serve --http-processes 2`: a second HTTP process, a child of the first, serves the same
port; an alert it takes pages at once; it comes back if it dies and never outlives the server.

Vigil tells no one which process answered a request, so the tests read it from /proc: the process
holding the server's end of the connection.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.live.harness import (
    DatabaseFactory,
    Deployment,
    LiveProcess,
    Processes,
    Runner,
    Tls,
    alerts_of,
    create_service,
    key_of,
    poll,
)
from tests.live.test_worker_process import alive, children, command_line
from tests.live_paging.harness import (
    PushReceiver,
    created,
    new_user,
    paged_service,
    verification_code,
)

ALERTS = 40


@pytest.fixture
def receiver() -> Iterator[PushReceiver]:
    """A push service on 127.0.0.1 recording every request."""
    push = PushReceiver()
    push.start()
    yield push
    push.stop()


def http_children(server: LiveProcess) -> list[int]:
    return [pid for pid in children(server.process.pid) if "--http-child" in command_line(pid)]


def worker_child(server: LiveProcess) -> int:
    [worker] = poll(
        lambda: [p for p in children(server.process.pid) if "worker" in command_line(p)] or None,
        within=30,
        what="the worker process",
    )
    return worker


def http_child(server: LiveProcess) -> int:
    found = poll(lambda: http_children(server) or None, within=30, what="the second HTTP process")
    assert len(found) == 1, found
    return found[0]


def connect(server: LiveProcess, tls: Tls | None = None) -> http.client.HTTPConnection:
    """A new connection, so the kernel picks a process for it afresh."""
    url = urlsplit(server.url)
    host, port = url.hostname or "", url.port
    if tls:
        return http.client.HTTPSConnection(host, port, context=tls.context(), timeout=30)
    return http.client.HTTPConnection(host, port, timeout=30)


def call(
    connection: http.client.HTTPConnection, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    """One request on a kept-alive connection: the status and the decoded JSON answer."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    connection.request(method, path, json.dumps(body) if body is not None else None, headers)
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"null")


def served_by(connection: http.client.HTTPConnection, candidates: list[int]) -> int | None:
    """Which of `candidates` holds the server's end of this (answered, still open) connection."""
    assert connection.sock is not None
    server_port, client_port = connection.port, connection.sock.getsockname()[1]
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if (int(local.split(":")[1], 16), int(remote.split(":")[1], 16)) == (
            server_port,
            client_port,
        ):
            inode = fields[9]
    if inode in (None, "0"):
        return None
    for pid in candidates:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    if str(fd.readlink()) == f"socket:[{inode}]":
                        return pid
    return None


def connection_to(
    server: LiveProcess, pid: int, tls: Tls | None = None
) -> http.client.HTTPConnection:
    """A connection that process `pid` accepted: new ones until the kernel gives it one (which
    also waits for that process to listen)."""

    def attempt() -> http.client.HTTPConnection | None:
        connection = connect(server, tls)
        try:
            if call(connection, "GET", "/healthz")[0] == 200 and served_by(connection, [pid]):
                return connection
        except OSError:
            pass
        connection.close()
        return None

    return poll(attempt, within=30, what=f"a connection accepted by process {pid}")


def rest(server: LiveProcess, deployment: Deployment, tls: Tls | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {deployment.token}"},
        verify=tls.context() if tls else True,
        timeout=30,
    )


def generic_alert(dedup_key: str) -> dict[str, Any]:
    return {"summary": f"Disk full on {dedup_key}", "severity": "critical", "dedup_key": dedup_key}


def test_two_http_processes_answer_https_on_one_port_and_keep_every_alert(
    databases: DatabaseFactory, processes: Processes, in_process: Runner, tls: Tls
) -> None:
    deployment = databases.deploy(in_process)
    server = processes.serve(deployment, "--http-processes", "2", tls=tls)
    primary, child = server.process.pid, http_child(server)
    connection_to(server, child, tls).close()  # the child listens too
    with rest(server, deployment, tls) as api:
        service = create_service(api)
        path = f"/integrations/generic/{key_of(service, 'generic')}"
        sent, answered_by = [], Counter[int | None]()
        for n in range(ALERTS):
            connection = connect(server, tls)
            try:
                sent.append(f"host-{n}-{secrets.token_hex(3)}")
                assert call(connection, "POST", path, generic_alert(sent[-1]))[0] == 202
                answered_by[served_by(connection, [primary, child])] += 1
            finally:
                connection.close()

        assert set(answered_by) == {primary, child}, answered_by
        assert sorted(a["dedup_key"] for a in alerts_of(api, service["id"])) == sorted(sent)


def test_an_alert_taken_by_the_second_http_process_pages_at_once_not_at_the_next_cycle(
    databases: DatabaseFactory, processes: Processes, in_process: Runner, receiver: PushReceiver
) -> None:
    deployment = databases.deploy(in_process)
    # The worker's cycles are a minute apart: a page within the wait below came from a wake-up.
    server = processes.serve(
        deployment, "--http-processes", "2", env={"VIGIL_WORKER_INTERVAL_SECONDS": "60"}
    )
    child = http_child(server)
    with rest(server, deployment) as api:
        user = new_user(api, "Pat Prompt")
        path = f"/push/{user['id']}"
        method = created(
            api.post(
                f"/api/v1/users/{user['id']}/contact-methods",
                json={"kind": "push", "address": f"{receiver.url}{path}"},
            )
        )
        code = poll(
            lambda: next(
                (c for d in receiver.at(path) if (c := verification_code(d.body["subject"]))),
                None,
            ),
            within=15,
            what="the verification message",
        )
        created(
            api.post(
                f"/api/v1/users/{user['id']}/contact-methods/{method['id']}/verify",
                json={"code": code},
            )
        )
        _service, key = paged_service(api, user_id=user["id"], name=f"prompt-{user['id']}")

        connection = connection_to(server, child)
        try:
            status, answer = call(
                connection, "POST", f"/integrations/generic/{key}", generic_alert("db-1")
            )
        finally:
            connection.close()

        assert status == 202, answer
        [page] = poll(lambda: receiver.pages(path) or None, within=15, what="the page")
        assert "Disk full on db-1" in json.dumps(page.body)


def test_the_http_processes_and_the_worker_end_with_the_server_even_when_it_is_killed(
    databases: DatabaseFactory, processes: Processes, in_process: Runner
) -> None:
    deployment = databases.deploy(in_process)
    # The setting, not the option, this time.
    stopped = processes.spawn_server(deployment, env={"VIGIL_HTTP_PROCESSES": "2"})
    killed = processes.spawn_server(deployment, env={"VIGIL_HTTP_PROCESSES": "2"})
    for server in (stopped, killed):
        processes.wait_ready(server)
        connection_to(server, http_child(server)).close()
    gentle = [http_child(stopped), worker_child(stopped)]
    abrupt = [http_child(killed), worker_child(killed)]

    stopped.process.terminate()
    killed.process.kill()
    killed.process.wait(timeout=10)

    assert stopped.process.wait(timeout=60) == 0, stopped.output()
    poll(lambda: not any(map(alive, gentle)) or None, within=20, what="a stopped server's children")
    poll(lambda: not any(map(alive, abrupt)) or None, within=20, what="a killed server's children")


def test_a_killed_http_process_is_replaced_and_takes_alerts_again(
    databases: DatabaseFactory, processes: Processes, in_process: Runner
) -> None:
    deployment = databases.deploy(in_process)
    server = processes.serve(deployment, "--http-processes", "2")
    first = http_child(server)
    connection_to(server, first).close()

    os.kill(first, signal.SIGKILL)

    replacement = poll(
        lambda: next((pid for pid in http_children(server) if pid != first), None),
        within=20,
        what="a new HTTP process",
    )
    with rest(server, deployment) as api:
        service = create_service(api)
        connection = connection_to(server, replacement)
        try:
            path = f"/integrations/generic/{key_of(service, 'generic')}"
            assert call(connection, "POST", path, generic_alert("after-restart"))[0] == 202
        finally:
            connection.close()
        [alert] = alerts_of(api, service["id"])
        assert alert["dedup_key"] == "after-restart"
