"""The severity an impact assessment suggests: each rule, each threshold at its edge, first match
wins, thresholds are configurable, and more impact never suggests a milder severity."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from vigil.incidents.impact import Impact, Thresholds, suggest_severity


def suggest(**impact: Any) -> tuple[str, tuple[str, ...]]:
    suggestion = suggest_severity(Impact(**impact))
    return suggestion.severity, suggestion.reasons


@pytest.mark.parametrize(
    ("impact", "reason"),
    [
        ({"security_breach": True}, "security breach"),
        ({"data_integrity_affected": True}, "data integrity affected"),
        ({"revenue_at_risk": 100_000}, "revenue at risk ≥ 100,000"),
        ({"customers_affected": 10_000}, "≥ 10,000 customers affected"),
        ({"customer_facing": True, "scope": "complete_outage"}, "customer-facing complete outage"),
    ],
)
def test_each_sev1_rule_suggests_sev1_and_says_why(impact: dict[str, Any], reason: str) -> None:
    assert suggest(**impact) == ("SEV1", (reason,))


@pytest.mark.parametrize(
    ("impact", "reason"),
    [
        ({"sla_breached": True}, "SLA breached"),
        ({"regulatory_exposure": True}, "regulatory or compliance exposure"),
        ({"revenue_at_risk": 10_000}, "revenue at risk ≥ 10,000"),
        ({"customers_affected": 100}, "≥ 100 customers affected"),
        ({"customer_facing": True, "scope": "degraded"}, "customer-facing partial degradation"),
        (
            {"customer_facing": True, "scope": "partial_outage"},
            "customer-facing partial degradation",
        ),
    ],
)
def test_each_sev2_rule_suggests_sev2_and_says_why(impact: dict[str, Any], reason: str) -> None:
    assert suggest(**impact) == ("SEV2", (reason,))


def test_customer_facing_impact_with_a_workaround_suggests_sev3() -> None:
    assert suggest(customer_facing=True) == ("SEV3", ("customer-facing, with a workaround",))


def test_internal_or_cosmetic_impact_suggests_sev4() -> None:
    assert suggest() == ("SEV4", ("internal, minimal or cosmetic",))
    assert suggest(scope="complete_outage", customers_affected=99, revenue_at_risk=9_999.99) == (
        "SEV4",
        ("internal, minimal or cosmetic",),
    )


def test_just_below_each_threshold_suggests_the_next_milder_severity() -> None:
    assert suggest(customers_affected=9_999)[0] == "SEV2"
    assert suggest(revenue_at_risk=99_999.99)[0] == "SEV2"
    assert suggest(customers_affected=99)[0] == "SEV4"
    assert suggest(revenue_at_risk=9_999.99)[0] == "SEV4"
    assert suggest(customers_affected=99, customer_facing=True)[0] == "SEV3"


def test_a_complete_outage_that_customers_do_not_see_is_not_sev1() -> None:
    assert suggest(scope="complete_outage")[0] == "SEV4"


def test_the_worst_matching_rule_wins_and_every_reason_at_that_level_is_given() -> None:
    severity, reasons = suggest(
        security_breach=True,
        customers_affected=50_000,
        sla_breached=True,
        regulatory_exposure=True,
        customer_facing=True,
    )
    assert severity == "SEV1"
    assert reasons == ("security breach", "≥ 10,000 customers affected")


def test_thresholds_are_configurable() -> None:
    strict = Thresholds(sev1_customers=500, sev2_customers=5, sev1_revenue=1_000, sev2_revenue=50)
    assert suggest_severity(Impact(customers_affected=500), strict).severity == "SEV1"
    assert suggest_severity(Impact(customers_affected=5), strict).severity == "SEV2"
    assert suggest_severity(Impact(revenue_at_risk=1_000), strict).reasons == (
        "revenue at risk ≥ 1,000",
    )
    assert suggest_severity(Impact(revenue_at_risk=50), strict).severity == "SEV2"
    assert suggest_severity(Impact(customers_affected=4), strict).severity == "SEV4"


@pytest.mark.parametrize(
    "bad",
    [
        {"customers_affected": -1},
        {"revenue_at_risk": -0.01},
        {"scope": "everything"},
        {"notes": "x" * 5001},
        {"regions": ["eu"] * 51},
        {"severity": "SEV1"},
    ],
)
def test_an_impact_assessment_out_of_bounds_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Impact(**bad)


impacts = st.builds(
    Impact,
    customers_affected=st.none() | st.integers(min_value=0, max_value=10**7),
    customer_facing=st.booleans(),
    scope=st.sampled_from(["none", "degraded", "partial_outage", "complete_outage"]),
    sla_breached=st.booleans(),
    revenue_at_risk=st.none() | st.floats(min_value=0, max_value=10**8, allow_nan=False),
    regulatory_exposure=st.booleans(),
    data_integrity_affected=st.booleans(),
    security_breach=st.booleans(),
)


@given(impacts, st.integers(min_value=0, max_value=10**6), st.floats(min_value=0, max_value=10**6))
def test_more_customers_or_more_revenue_at_risk_never_suggests_a_milder_severity(
    impact: Impact, more_customers: int, more_revenue: float
) -> None:
    worse = impact.model_copy(
        update={
            "customers_affected": (impact.customers_affected or 0) + more_customers,
            "revenue_at_risk": (impact.revenue_at_risk or 0) + more_revenue,
        }
    )
    rank = int(suggest_severity(impact).severity[3])
    assert int(suggest_severity(worse).severity[3]) <= rank


@given(impacts)
def test_every_suggestion_gives_at_least_one_reason(impact: Impact) -> None:
    suggestion = suggest_severity(impact)
    assert suggestion.severity in ("SEV1", "SEV2", "SEV3", "SEV4")
    assert suggestion.reasons
