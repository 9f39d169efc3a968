"""Sender severity words to SEV1–SEV4 (wire-formats.md §9.2), overridable per service."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")

DEFAULT_SEVERITY_MAP: dict[str, str] = {
    # PagerDuty Events v2 and generic senders
    "critical": "SEV1",
    "error": "SEV2",
    "warning": "SEV3",
    "info": "SEV4",
    # Alertmanager / Grafana conventions and common synonyms
    "page": "SEV1",
    "high": "SEV2",
    "major": "SEV2",
    "medium": "SEV3",
    "moderate": "SEV3",
    "minor": "SEV3",
    "warn": "SEV3",
    "low": "SEV4",
    "ticket": "SEV4",
    "none": "SEV4",
    "informational": "SEV4",
    # Opsgenie-style priorities and our own names
    "p1": "SEV1",
    "p2": "SEV2",
    "p3": "SEV3",
    "p4": "SEV4",
    "p5": "SEV4",
    "sev1": "SEV1",
    "sev2": "SEV2",
    "sev3": "SEV3",
    "sev4": "SEV4",
    "sev-1": "SEV1",
    "sev-2": "SEV2",
    "sev-3": "SEV3",
    "sev-4": "SEV4",
}


def map_severity(raw: str | None, *, overrides: Mapping[str, Any], default: str) -> str:
    """The SEV for a sender's word: the service's own mapping first, then the defaults.

    Unknown or missing words get the service's default, so an unlabelled alert still pages.
    """
    if raw is None:
        return default
    word = raw.strip().lower()
    mapped = overrides.get(word) or DEFAULT_SEVERITY_MAP.get(word)
    return mapped if mapped in SEVERITIES else default


def worst(*severities: str) -> str:
    """The most severe of the given SEVs (SEV1 beats SEV4): with one digit each, the least
    string is the most severe."""
    return min(severities)


def urgency_for(severity: str) -> str:
    """SEV1–2 page at any hour (high); SEV3–4 notify without paging (low)."""
    return "high" if int(severity[3]) <= 2 else "low"
