"""`vigil serve` runs its embedded worker (and its ingest writer) as child processes: each gets a
core of its own, comes back if it dies, and never outlives the server."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest

from tests.live.harness import DatabaseFactory, LiveProcess, Processes, Runner, poll
from tests.live.test_alert_expiry import (
    assert_resolved_by_expiry,
    send_short_lived_alert,
    wait_until_expired,
)


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in task.read_text().split()]
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


def child_running(server: LiveProcess, command: str) -> int:
    """The one child of `vigil serve` running `vigil COMMAND` (worker, ingest-writer)."""
    found = poll(
        lambda: [p for p in children(server.process.pid) if command in command_line(p)] or None,
        within=20,
        what=f"the {command} child",
    )
    assert len(found) == 1, found
    return found[0]


def worker_child(server: LiveProcess) -> int:
    return child_running(server, "worker")


def replacement(server: LiveProcess, first: int, command: str) -> int:
    """The child that `vigil serve` started in place of `first`, which ran `vigil COMMAND`."""
    return poll(
        lambda: next(
            (c for c in children(server.process.pid) if c != first and command in command_line(c)),
            None,
        ),
        within=20,
        what=f"a new {command} process",
    )


def test_a_killed_worker_process_is_replaced_and_paging_goes_on(
    databases: DatabaseFactory, processes: Processes, in_process: Runner
) -> None:
    deployment = databases.deploy(in_process)
    server = processes.spawn_server(deployment)
    processes.wait_ready(server)
    first = worker_child(server)

    os.kill(first, signal.SIGKILL)

    assert alive(replacement(server, first, "worker"))
    alertname = send_short_lived_alert(server.url, deployment.keys["checkout-api"]["prometheus"])
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {deployment.token}"}
    ) as api:
        assert_resolved_by_expiry(wait_until_expired(api, alertname, server))


@pytest.mark.parametrize("command", ["worker", "ingest-writer"])
def test_the_children_end_with_the_server_even_when_the_server_is_killed(
    databases: DatabaseFactory, processes: Processes, in_process: Runner, command: str
) -> None:
    deployment = databases.deploy(in_process)
    stopped = processes.spawn_server(deployment)
    killed = processes.spawn_server(deployment)
    processes.wait_ready(stopped)
    processes.wait_ready(killed)
    gentle, abrupt = child_running(stopped, command), child_running(killed, command)

    stopped.stop()
    killed.process.kill()
    killed.process.wait(timeout=10)

    poll(lambda: not alive(gentle) or None, within=20, what=f"the {command} of a stopped server")
    poll(lambda: not alive(abrupt) or None, within=20, what=f"the {command} of a killed server")
