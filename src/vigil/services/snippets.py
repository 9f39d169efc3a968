"""Copy-ready URLs and config snippets for pointing each monitoring tool at a service's key."""

from __future__ import annotations

from urllib.parse import urlsplit


def integration_urls(base_url: str, key: str) -> dict[str, str]:
    base = base_url.rstrip("/")
    return {
        "alertmanager": f"{base}/integrations/alertmanager/{key}",
        "grafana": f"{base}/integrations/grafana/{key}",
        "prometheus": f"{base}/integrations/prometheus/{key}",
        "pagerduty": f"{base}/v2/enqueue",
        "generic": f"{base}/integrations/generic/{key}",
    }


def config_snippets(base_url: str, key: str) -> dict[str, str]:
    """YAML / code a user pastes into each tool; the key is the only secret in them."""
    urls = integration_urls(base_url, key)
    parts = urlsplit(base_url)
    target = parts.netloc or "127.0.0.1:8080"
    scheme = parts.scheme or "http"
    return {
        "alertmanager": (
            "# alertmanager.yml\n"
            "receivers:\n"
            "  - name: vigil\n"
            "    webhook_configs:\n"
            f"      - url: {urls['alertmanager']}\n"
            "        send_resolved: true\n"
        ),
        "grafana": (
            "Grafana → Alerting → Contact points → New → Integration: Webhook\n"
            f"URL: {urls['grafana']}\n"
            "HTTP method: POST\n"
        ),
        "prometheus": (
            "# prometheus.yml — Prometheus sends straight to Vigil, no Alertmanager needed\n"
            "alerting:\n"
            "  alertmanagers:\n"
            f"    - scheme: {scheme}\n"
            "      api_version: v2\n"
            f"      path_prefix: /integrations/prometheus/{key}\n"
            "      static_configs:\n"
            f"        - targets: ['{target}']\n"
        ),
        "pagerduty": (
            "# Any tool speaking PagerDuty Events API v2: send to this URL with this routing key\n"
            f"url: {urls['pagerduty']}\n"
            f"routing_key: {key}\n"
            "# Alertmanager: pagerduty_configs: [{routing_key: <key>, url: <url>}]\n"
            "# Python: pdpyras.EventsAPISession(key); session.url = "
            f"'{base_url.rstrip('/')}'\n"
        ),
        "generic": (
            f"curl -X POST {urls['generic']} -H 'Content-Type: application/json' \\\n"
            '  -d \'{"summary": "Disk full on db-1", "severity": "critical", '
            '"source": "db-1"}\'\n'
        ),
    }
