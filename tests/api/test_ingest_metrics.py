"""`GET /metrics` shows how long senders waited for their answers, per integration and status."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.payloads import alertmanager_message, prometheus_alert


def _count(metrics: str, integration: str, status: str) -> float:
    match = re.search(
        rf'^vigil_ingest_request_seconds_count{{integration="{integration}",status="{status}"}}'
        r" (\S+)$",
        metrics,
        re.MULTILINE,
    )
    return float(match.group(1)) if match else 0.0


def test_each_inbound_request_is_timed_by_integration_and_answer(
    client: TestClient, key: str
) -> None:
    before = client.get("/metrics").text
    prometheus = client.post(
        f"/integrations/prometheus/{key}/api/v2/alerts", json=[prometheus_alert()]
    )
    assert prometheus.status_code == 200, prometheus.text
    webhook = client.post(f"/integrations/alertmanager/{key}", json=alertmanager_message())
    assert webhook.status_code == 200, webhook.text
    refused = client.post(f"/integrations/generic/{key}", json={"severity": "critical"})
    assert refused.status_code == 400, refused.text
    unknown_key = client.post("/integrations/generic/no-such-key", json={"summary": "x"})
    assert unknown_key.status_code == 404, unknown_key.text

    after = client.get("/metrics").text
    for integration, status in (
        ("prometheus", "200"),
        ("alertmanager", "200"),
        ("generic", "400"),
        ("generic", "404"),
    ):
        assert _count(after, integration, status) == _count(before, integration, status) + 1
    assert "# TYPE vigil_ingest_request_seconds histogram" in after
