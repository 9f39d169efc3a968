"""Prometheus alerts that stop being refreshed resolve by themselves, done by a real engine: the one
embedded in `vigil serve`, or a separate `vigil worker` beside `vigil serve --no-worker`."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.live.harness import (
    DatabaseFactory,
    Deployment,
    LiveProcess,
    Processes,
    Runner,
    alerts_of,
    incident,
    poll,
)


def send_short_lived_alert(url: str, key: str) -> str:
    """Post one Prometheus alert whose endsAt is two seconds away; return its alertname."""
    alertname = f"LiveExpiry{secrets.token_hex(4)}"
    now = datetime.now(UTC)
    response = httpx.post(
        f"{url}/integrations/prometheus/{key}/api/v2/alerts",
        json=[
            {
                "labels": {"alertname": alertname, "instance": "web-1:9100", "severity": "warning"},
                "annotations": {"summary": f"{alertname} on web-1"},
                "startsAt": now.isoformat(),
                "endsAt": (now + timedelta(seconds=2)).isoformat(),
            }
        ],
    )
    assert response.status_code == 200, response.text
    return alertname


def wait_until_expired(api: httpx.Client, alertname: str, engine: LiveProcess) -> dict[str, Any]:
    """The alert's incident once `engine` resolved it (a bounded wait that fails clearly).

    The alert may have expired already by the time it is read back (two seconds go by quickly on
    a loaded machine); `assert_resolved_by_expiry` checks it was the expiry that resolved it."""
    [alert] = [a for a in alerts_of(api, "checkout-api") if a["labels"]["alertname"] == alertname]
    assert alert["incident_id"] is not None

    def resolved() -> dict[str, Any] | None:
        assert engine.process.poll() is None, f"the engine's process ended:\n{engine.output()}"
        found = incident(api, alert["incident_id"])
        return found if found["status"] == "resolved" else None

    return poll(resolved, within=20, what=f"the incident of {alertname} to resolve")


def assert_resolved_by_expiry(resolved: dict[str, Any]) -> None:
    assert [a["status"] for a in resolved["alerts"]] == ["resolved"]
    assert resolved["resolved_by_id"] is None
    expired = [e for e in resolved["timeline"] if e["data"].get("expired")]
    assert [e["kind"] for e in expired] == ["alert_resolved"]


def test_embedded_worker_resolves_a_prometheus_alert_that_was_not_refreshed(
    deployment: Deployment, server: LiveProcess, api: httpx.Client
) -> None:
    alertname = send_short_lived_alert(server.url, deployment.keys["checkout-api"]["prometheus"])

    resolved = wait_until_expired(api, alertname, server)

    assert_resolved_by_expiry(resolved)


def test_separate_worker_process_resolves_it_when_serve_runs_without_one(
    databases: DatabaseFactory, processes: Processes, in_process: Runner
) -> None:
    deployment = databases.deploy(in_process)
    server = processes.spawn_server(deployment, "--no-worker")
    worker = processes.worker(deployment)
    processes.wait_ready(server)
    alertname = send_short_lived_alert(server.url, deployment.keys["checkout-api"]["prometheus"])

    headers = {"Authorization": f"Bearer {deployment.token}"}
    with httpx.Client(base_url=server.url, headers=headers) as api:
        resolved = wait_until_expired(api, alertname, worker)

    assert_resolved_by_expiry(resolved)
