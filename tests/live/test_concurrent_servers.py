"""Two `vigil serve` processes on one PostgreSQL, hit at the same instant with the same alert: the
database alone keeps it one alert and one incident, and counts every event."""

from __future__ import annotations

import http.client
import json
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.live.harness import (
    Deployment,
    LiveProcess,
    Processes,
    alerts_of,
    create_service,
    incidents_of,
    key_of,
)

REQUESTS = 40
ROUNDS = 3


@pytest.fixture(scope="module")
def second_server(
    deployment: Deployment, server: LiveProcess, session_processes: Processes
) -> Iterator[LiveProcess]:
    """Another `vigil serve` on the same database (its engine is not what these tests are about)."""
    live = session_processes.serve(deployment, "--no-worker")
    yield live
    live.stop()


def fire_together(requests: list[tuple[str, str, dict[str, Any]]]) -> list[int | str]:
    """POST every (server URL, path, body) over its own connection, all sent at one instant;
    each answer's status code, or what went wrong on the way."""
    start = threading.Barrier(len(requests))

    def post(base: str, path: str, body: dict[str, Any]) -> int | str:
        url = urlsplit(base)
        connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=60)
        try:
            connection.connect()  # connect first, so only the requests race
            start.wait(timeout=30)
            connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
            return connection.getresponse().status
        except OSError as exc:
            return f"{base}{path}: {type(exc).__name__}: {exc}"
        finally:
            connection.close()

    with ThreadPoolExecutor(len(requests)) as pool:
        futures = [pool.submit(post, *request) for request in requests]
        return [future.result() for future in futures]


def generic_event(dedup_key: str, alertname: str) -> dict[str, Any]:
    return {
        "summary": f"{alertname} on checkout",
        "severity": "critical",
        "source": "checkout-1",
        "dedup_key": dedup_key,
        "labels": {"alertname": alertname},
    }


def pagerduty_event(routing_key: str, dedup_key: str, alertname: str) -> dict[str, Any]:
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": f"{alertname} on checkout",
            "source": "checkout-1",
            "severity": "critical",
        },
    }


@pytest.mark.postgres_only
def test_same_new_dedup_key_on_two_servers_at_once_is_one_alert_counting_every_event(
    server: LiveProcess, second_server: LiveProcess, api: httpx.Client
) -> None:
    for _round in range(ROUNDS):
        service = create_service(api, integration_types=["generic", "pagerduty"])
        generic, routing_key = key_of(service, "generic"), key_of(service, "pagerduty")
        dedup_key = f"race-{secrets.token_hex(6)}"
        requests = []
        for n in range(REQUESTS):
            base = (server, second_server)[n % 2].url
            if n % 4 < 2:
                path, body = f"/integrations/generic/{generic}", generic_event(dedup_key, "Race")
            else:
                path, body = "/v2/enqueue", pagerduty_event(routing_key, dedup_key, "Race")
            requests.append((base, path, body))

        statuses = fire_together(requests)

        assert statuses == [202] * REQUESTS
        [alert] = alerts_of(api, service["id"])
        assert (alert["dedup_key"], alert["event_count"]) == (dedup_key, REQUESTS)
        [incident] = incidents_of(api, service["id"])
        assert (incident["id"], incident["alert_count"]) == (alert["incident_id"], 1)


@pytest.mark.postgres_only
def test_new_alerts_grouped_by_alertname_on_two_servers_at_once_open_one_incident(
    server: LiveProcess, second_server: LiveProcess, api: httpx.Client
) -> None:
    for _round in range(ROUNDS):
        service = create_service(api, grouping_mode="labels", group_by=["alertname"])
        path = f"/integrations/generic/{key_of(service, 'generic')}"
        requests = [
            (
                (server, second_server)[n % 2].url,
                path,
                generic_event(f"host-{n}-{secrets.token_hex(3)}", "CheckoutDown"),
            )
            for n in range(REQUESTS)
        ]

        statuses = fire_together(requests)

        assert statuses == [202] * REQUESTS
        alerts = alerts_of(api, service["id"])
        assert len(alerts) == REQUESTS
        [incident] = incidents_of(api, service["id"])
        assert incident["alert_count"] == REQUESTS
        assert {a["incident_id"] for a in alerts} == {incident["id"]}
