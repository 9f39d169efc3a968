"""Real sample payloads, shaped exactly as each sender posts them (wire-formats.md)."""

from __future__ import annotations

from typing import Any

GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def am_alert(
    alertname: str = "HighLatency",
    *,
    status: str = "firing",
    fingerprint: str | None = "4c2e0f9d5b8a7e61",
    severity: str = "critical",
    instance: str = "api-1:9100",
    starts_at: str = "2026-03-02T08:55:00Z",
    ends_at: str = GO_ZERO_TIME,
    **labels: str,
) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "status": status,
        "labels": {
            "alertname": alertname,
            "severity": severity,
            "instance": instance,
            "job": "node",
            **labels,
        },
        "annotations": {
            "summary": f"{alertname} on {instance}",
            "description": "p99 latency above 2s for 5 minutes",
            "runbook_url": "https://runbooks.example.com/latency",
        },
        "startsAt": starts_at,
        "endsAt": ends_at if status == "firing" else "2026-03-02T09:10:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=latency",
    }
    if fingerprint is not None:
        alert["fingerprint"] = fingerprint
    return alert


def alertmanager_message(
    *alerts: dict[str, Any], group_key: str = '{}:{alertname="HighLatency"}'
) -> dict[str, Any]:
    alerts = alerts or (am_alert(),)
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": "vigil",
        "groupLabels": {"alertname": alerts[0]["labels"]["alertname"]},
        "commonLabels": {"job": "node"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


def grafana_message(
    *, status: str = "firing", fingerprint: str = "a1b2c3d4e5f60718"
) -> dict[str, Any]:
    firing = status == "firing"
    return {
        "receiver": "vigil",
        "status": status,
        "orgId": 1,
        "alerts": [
            {
                "status": status,
                "labels": {
                    "alertname": "High memory usage",
                    "grafana_folder": "Infra",
                    "team": "blue",
                    "severity": "warning",
                },
                "annotations": {"summary": "Memory above 90% on web-3"},
                "startsAt": "2026-03-02T08:50:00Z",
                "endsAt": GO_ZERO_TIME if firing else "2026-03-02T09:05:00Z",
                "generatorURL": "http://grafana:3000/alerting/grafana/abc/view?orgId=1",
                "fingerprint": fingerprint,
                "silenceURL": "http://grafana:3000/alerting/silence/new?alertmanager=grafana",
                "dashboardURL": "http://grafana:3000/d/xyz?orgId=1",
                "panelURL": "http://grafana:3000/d/xyz?orgId=1&viewPanel=4",
                "values": {"B": 91.3, "C": 1},
                "valueString": "[ var='B' labels={} value=91.3 ]",
            }
        ],
        "groupLabels": {"alertname": "High memory usage"},
        "commonLabels": {"alertname": "High memory usage", "team": "blue"},
        "commonAnnotations": {},
        "externalURL": "http://grafana:3000/",
        "version": "1",
        "groupKey": '{}/{}:{alertname="High memory usage"}',
        "truncatedAlerts": 0,
        "title": "[FIRING:1] High memory usage (blue)",
        "state": "alerting" if firing else "ok",
        "message": "**Firing**\n\nValue: B=91.3\nLabels:\n - alertname = High memory usage\n",
    }


def prometheus_alert(
    alertname: str = "InstanceDown",
    *,
    instance: str = "db-1:9100",
    starts_at: str = "2026-03-02T08:58:00Z",
    ends_at: str = "2026-03-02T09:04:00Z",
    severity: str = "critical",
) -> dict[str, Any]:
    return {
        "labels": {
            "alertname": alertname,
            "instance": instance,
            "job": "node",
            "severity": severity,
        },
        "annotations": {"summary": f"{instance} is down"},
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0",
    }


def pagerduty_trigger(
    routing_key: str, *, dedup_key: str | None = "disk-db-1", severity: str = "critical"
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "payload": {
            "summary": "Disk 95% full on db-1",
            "source": "db-1.example.com",
            "severity": severity,
            "timestamp": "2026-03-02T08:59:58.315+0000",
            "component": "postgres",
            "group": "prod-datapipe",
            "class": "disk",
            "custom_details": {"free_bytes": 1024, "mount": "/var/lib/postgresql"},
        },
        "links": [{"href": "https://runbooks.example.com/disk", "text": "Runbook"}],
        "client": "Sample Monitoring Service",
        "client_url": "https://monitoring.example.com",
    }
    if dedup_key is not None:
        event["dedup_key"] = dedup_key
    return event
