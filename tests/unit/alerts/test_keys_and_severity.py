"""Pure alert logic: dedup fingerprints, grouping keys and severity mapping."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vigil.alerts.keys import group_key_for, label_fingerprint
from vigil.alerts.severity import map_severity, urgency_for, worst

label_sets = st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=40), max_size=10)


@given(label_sets)
def test_dedup_key_is_stable_under_label_order(labels: dict[str, str]) -> None:
    reordered = dict(reversed(list(labels.items())))
    assert label_fingerprint(labels) == label_fingerprint(reordered)


@given(label_sets, label_sets)
def test_different_label_sets_get_different_fingerprints(
    a: dict[str, str], b: dict[str, str]
) -> None:
    if a != b:
        assert label_fingerprint(a) != label_fingerprint(b)


@given(label_sets, st.text(max_size=10))
def test_grouping_by_labels_ignores_labels_outside_group_by(
    labels: dict[str, str], noise: str
) -> None:
    base = {"alertname": "X", **labels}
    noisy = {**base, "zz_noise": noise}
    args = {"mode": "labels", "group_by": ["alertname"], "sent_group_key": None, "dedup_key": "k"}
    assert group_key_for(labels=base, **args) == group_key_for(labels=noisy, **args)


@given(label_sets, st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=4))
def test_group_by_order_and_repeats_do_not_change_the_group(
    labels: dict[str, str], names: list[str]
) -> None:
    def key(group_by: list[str]) -> str | None:
        return group_key_for(
            mode="labels", group_by=group_by, labels=labels, sent_group_key=None, dedup_key="k"
        )

    assert key(names) == key(list(reversed(names))) == key(names + names)


def test_ungrouped_alerts_never_share_an_incident() -> None:
    assert (
        group_key_for(mode="none", group_by=[], labels={}, sent_group_key="g", dedup_key="k")
        is None
    )


def test_as_sent_grouping_uses_the_senders_group_key() -> None:
    one = group_key_for(
        mode="as_sent", group_by=[], labels={"a": "1"}, sent_group_key="G", dedup_key="1"
    )
    two = group_key_for(
        mode="as_sent", group_by=[], labels={"a": "2"}, sent_group_key="G", dedup_key="2"
    )
    assert one == two


def test_group_by_everything_separates_different_label_sets() -> None:
    args = {"mode": "labels", "group_by": ["..."], "sent_group_key": None, "dedup_key": "k"}
    assert group_key_for(labels={"a": "1"}, **args) != group_key_for(labels={"a": "2"}, **args)


def test_very_long_group_keys_are_bounded() -> None:
    key = group_key_for(
        mode="labels", group_by=["a"], labels={"a": "x" * 5000}, sent_group_key=None, dedup_key="k"
    )
    assert key is not None and len(key) <= 512


def test_default_mapping_follows_the_wire_formats_table() -> None:
    assert [
        map_severity(w, overrides={}, default="SEV2")
        for w in ("critical", "error", "warning", "info")
    ] == [
        "SEV1",
        "SEV2",
        "SEV3",
        "SEV4",
    ]


def test_severity_words_are_case_insensitive_with_synonyms() -> None:
    assert map_severity("CRITICAL", overrides={}, default="SEV4") == "SEV1"
    assert map_severity("P3", overrides={}, default="SEV1") == "SEV3"
    assert map_severity("page", overrides={}, default="SEV4") == "SEV1"


def test_unknown_or_missing_severity_uses_the_service_default() -> None:
    assert map_severity("banana", overrides={}, default="SEV3") == "SEV3"
    assert map_severity(None, overrides={}, default="SEV2") == "SEV2"


def test_service_mapping_overrides_the_defaults() -> None:
    assert map_severity("critical", overrides={"critical": "SEV2"}, default="SEV4") == "SEV2"


@given(st.lists(st.sampled_from(["SEV1", "SEV2", "SEV3", "SEV4"]), min_size=1))
def test_worst_is_the_lowest_number(severities: list[str]) -> None:
    assert worst(*severities) == min(severities)


def test_sev1_and_sev2_page_while_sev3_and_sev4_do_not() -> None:
    assert [urgency_for(s) for s in ("SEV1", "SEV2", "SEV3", "SEV4")] == [
        "high",
        "high",
        "low",
        "low",
    ]
