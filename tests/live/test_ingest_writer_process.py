"""`vigil serve` commits inbound alerts in an ingest writer process of its own: a killed writer is
replaced, and senders get a 503 (never a lost 2xx) while it is away. (That it never outlives
the server is tested with the worker's, in test_worker_process.py.)"""

from __future__ import annotations

import os
import signal

import httpx

from tests.live.harness import DatabaseFactory, Processes, Runner, poll
from tests.live.test_worker_process import child_running, replacement


def send(url: str, key: str, summary: str) -> int:
    try:
        response = httpx.post(f"{url}/integrations/generic/{key}", json={"summary": summary})
    except httpx.HTTPError:
        return 0
    return response.status_code


def test_a_killed_ingest_writer_is_replaced_and_no_accepted_alert_is_lost(
    databases: DatabaseFactory, processes: Processes, in_process: Runner
) -> None:
    deployment = databases.deploy(in_process)
    server = processes.spawn_server(deployment)
    processes.wait_ready(server)
    key = deployment.keys["checkout-api"]["generic"]
    assert send(server.url, key, "before the crash") == 202
    first = child_running(server, "ingest-writer")

    os.kill(first, signal.SIGKILL)
    answers = {f"during {n}": send(server.url, key, f"during {n}") for n in range(5)}

    assert set(answers.values()) <= {202, 503}, answers
    replacement(server, first, "ingest-writer")
    poll(lambda: send(server.url, key, "after the crash") == 202 or None, within=20, what="a 202")
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {deployment.token}"}
    ) as api:
        summaries = {a["summary"] for a in api.get("/api/v1/alerts").json()["items"]}
        metrics = api.get("/metrics").text
    accepted = {summary for summary, status in answers.items() if status == 202}
    assert {"before the crash", "after the crash"} | accepted <= summaries
    # The writer's commits show in the HTTP process's /metrics, which is what gets scraped.
    assert "vigil_ingest_commit_requests_count" in metrics
