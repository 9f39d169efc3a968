"""Impact assessment and the severity it suggests. Vigil suggests; a person decides.

Rules, first match wins (thresholds are settings, shown here with their defaults):

- SEV1: a security breach or data-integrity loss; or revenue at risk ≥ 100,000; or ≥ 10,000
  customers affected; or a customer-facing complete outage.
- SEV2: an SLA breached; or regulatory / compliance exposure; or revenue at risk ≥ 10,000; or ≥ 100
  customers affected; or a customer-facing partial degradation.
- SEV3: customer-facing impact with a workaround (anything customer-facing not above).
- SEV4: everything else (internal, minimal, cosmetic).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Impact(BaseModel):
    """What an incident does to customers, the business and systems."""

    model_config = ConfigDict(extra="forbid")

    customers_affected: int | None = Field(
        default=None, ge=0, le=10**12, description="A count or estimate."
    )
    customers_estimated: bool = False
    regions: list[str] = Field(default_factory=list, max_length=50)
    customer_facing: bool = False
    scope: Literal["none", "degraded", "partial_outage", "complete_outage"] = "none"
    sla_breached: bool = False
    revenue_at_risk: float | None = Field(default=None, ge=0, le=1e15, allow_inf_nan=False)
    regulatory_exposure: bool = False
    services_affected: list[str] = Field(default_factory=list, max_length=100)
    components_affected: list[str] = Field(default_factory=list, max_length=100)
    data_integrity_affected: bool = False
    security_breach: bool = False
    notes: str = Field(default="", max_length=5000)


@dataclass(frozen=True, slots=True)
class Thresholds:
    sev1_customers: int = 10_000
    sev2_customers: int = 100
    sev1_revenue: float = 100_000
    sev2_revenue: float = 10_000


@dataclass(frozen=True, slots=True)
class Suggestion:
    severity: str
    reasons: tuple[str, ...]


def suggest_severity(impact: Impact, thresholds: Thresholds = Thresholds()) -> Suggestion:
    """The severity the rules above give, with the reasons that decided it."""
    customers = impact.customers_affected or 0
    revenue = impact.revenue_at_risk or 0
    sev1 = [
        reason
        for reason, hit in (
            ("security breach", impact.security_breach),
            ("data integrity affected", impact.data_integrity_affected),
            (
                f"revenue at risk ≥ {thresholds.sev1_revenue:,.0f}",
                revenue >= thresholds.sev1_revenue,
            ),
            (
                f"≥ {thresholds.sev1_customers:,} customers affected",
                customers >= thresholds.sev1_customers,
            ),
            (
                "customer-facing complete outage",
                impact.customer_facing and impact.scope == "complete_outage",
            ),
        )
        if hit
    ]
    if sev1:
        return Suggestion("SEV1", tuple(sev1))
    sev2 = [
        reason
        for reason, hit in (
            ("SLA breached", impact.sla_breached),
            ("regulatory or compliance exposure", impact.regulatory_exposure),
            (
                f"revenue at risk ≥ {thresholds.sev2_revenue:,.0f}",
                revenue >= thresholds.sev2_revenue,
            ),
            (
                f"≥ {thresholds.sev2_customers:,} customers affected",
                customers >= thresholds.sev2_customers,
            ),
            (
                "customer-facing partial degradation",
                impact.customer_facing and impact.scope in ("degraded", "partial_outage"),
            ),
        )
        if hit
    ]
    if sev2:
        return Suggestion("SEV2", tuple(sev2))
    if impact.customer_facing:
        return Suggestion("SEV3", ("customer-facing, with a workaround",))
    return Suggestion("SEV4", ("internal, minimal or cosmetic",))
