"""Inbound formats (Alertmanager, Grafana, Prometheus, PagerDuty Events v2, generic JSON) and the
ingest pipeline that turns their alerts into incidents."""
