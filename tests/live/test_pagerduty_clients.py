"""PagerDuty's official Python clients, unchanged, pointed at a real `vigil serve`: whatever already
pages through PagerDuty can page through Vigil by changing one URL."""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Iterator

import httpx
import pagerduty
import pytest
import sqlalchemy as sa

from tests.live.harness import Deployment, LiveProcess, Processes, Tls, alerts_of, incident
from vigil.services.models import ChangeEvent

with warnings.catch_warnings():
    # pdpyras announces its own deprecation on import; it is still what many scripts run.
    warnings.simplefilter("ignore")
    import pdpyras


@pytest.fixture(scope="module")
def tls_server(
    deployment: Deployment, server: LiveProcess, tls: Tls, session_processes: Processes
) -> Iterator[LiveProcess]:
    """`vigil serve --tls-cert --tls-key` beside the plain server: pagerduty 7 speaks only https."""
    live = session_processes.serve(deployment, "--no-worker", tls=tls)
    yield live
    live.stop()


@pytest.fixture
def events_session(
    deployment: Deployment, server: LiveProcess
) -> Iterator[pdpyras.EventsAPISession]:
    """pdpyras as its users write it, with one line changed: the URL."""
    session = pdpyras.EventsAPISession(deployment.keys["payments-db"]["pagerduty"])
    session.url = server.url
    yield session
    session.close()


@pytest.fixture
def change_session(
    deployment: Deployment, server: LiveProcess
) -> Iterator[pdpyras.ChangeEventsAPISession]:
    session = pdpyras.ChangeEventsAPISession(deployment.keys["payments-db"]["pagerduty"])
    session.url = server.url
    yield session
    session.close()


def incident_for(api: httpx.Client, dedup_key: str) -> dict[str, object]:
    """The incident of the payments-db alert with this dedup key, as the REST API shows it."""
    [alert] = [a for a in alerts_of(api, "payments-db") if a["dedup_key"] == dedup_key]
    return incident(api, alert["incident_id"])


def test_pdpyras_events_session_triggers_acknowledges_and_resolves(
    events_session: pdpyras.EventsAPISession, api: httpx.Client
) -> None:

    dedup_key = events_session.trigger(
        "Replication lag over 30 s on payments-db-2",
        "payments-db-2",
        severity="error",
        custom_details={"lag_seconds": 41},
    )
    opened = incident_for(api, dedup_key)
    assert (opened["status"], opened["title"]) == (
        "triggered",
        "Replication lag over 30 s on payments-db-2",
    )

    assert events_session.acknowledge(dedup_key) == dedup_key
    assert incident_for(api, dedup_key)["status"] == "acknowledged"

    assert events_session.resolve(dedup_key) == dedup_key
    assert incident_for(api, dedup_key)["status"] == "resolved"


def test_pdpyras_trigger_with_our_own_dedup_key_keeps_it(
    events_session: pdpyras.EventsAPISession, api: httpx.Client
) -> None:
    ours = f"payments-db-2/disk/{secrets.token_hex(4)}"

    assert events_session.trigger("Disk 91% full", "payments-db-2", dedup_key=ours) == ours
    assert events_session.trigger("Disk 93% full", "payments-db-2", dedup_key=ours) == ours

    [alert] = [a for a in alerts_of(api, "payments-db") if a["dedup_key"] == ours]
    assert (alert["event_count"], alert["summary"]) == (2, "Disk 93% full")


def test_pdpyras_change_events_session_records_a_change(
    change_session: pdpyras.ChangeEventsAPISession, deployment: Deployment
) -> None:
    summary = f"Deployed payments-db config {secrets.token_hex(4)}"

    change_session.submit(summary, source="deploy-bot", custom_details={"build": 812})

    rows = deployment.query(
        sa.select(ChangeEvent.source, ChangeEvent.details).where(ChangeEvent.summary == summary)
    )
    assert [(row.source, row.details) for row in rows] == [("deploy-bot", {"build": 812})]


def test_pagerduty_v7_client_over_https_triggers_acknowledges_and_resolves(
    deployment: Deployment, tls_server: LiveProcess, tls: Tls, api: httpx.Client
) -> None:
    key = deployment.keys["payments-db"]["pagerduty"]
    with pagerduty.EventsApiV2Client(key, base_url=tls_server.url, verify=tls.context()) as client:
        dedup_key = client.trigger(
            "Connection pool exhausted", "payments-db-1", severity="critical"
        )
        opened = incident_for(api, dedup_key)
        assert (opened["status"], opened["severity"]) == ("triggered", "SEV1")

        assert client.acknowledge(dedup_key) == dedup_key
        assert incident_for(api, dedup_key)["status"] == "acknowledged"

        assert client.resolve(dedup_key) == dedup_key
        assert incident_for(api, dedup_key)["status"] == "resolved"


def test_pagerduty_v7_client_over_https_records_a_change(
    deployment: Deployment, tls_server: LiveProcess, tls: Tls
) -> None:
    key = deployment.keys["payments-db"]["pagerduty"]
    summary = f"Rolled out pgbouncer {secrets.token_hex(4)}"

    with pagerduty.EventsApiV2Client(key, base_url=tls_server.url, verify=tls.context()) as client:
        # send_change_event, not submit: pagerduty 7.2's submit() without a timestamp fails in
        # the client itself (it calls datetime.timezone on the datetime class).
        client.send_change_event(
            payload={"summary": summary, "source": "argo", "custom_details": {"revision": "a1b"}},
            links=[{"href": "https://ci.example.com/runs/812", "text": "CI run"}],
        )

    rows = deployment.query(
        sa.select(ChangeEvent.source, ChangeEvent.links).where(ChangeEvent.summary == summary)
    )
    assert [(row.source, row.links) for row in rows] == [
        ("argo", [{"href": "https://ci.example.com/runs/812", "text": "CI run"}])
    ]
