"""Signed action links refuse any change and expire after a day; retries back off, capped."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.notify.links import (
    LINK_LIFETIME,
    BadLink,
    ExpiredLink,
    LinkAction,
    action_links,
    sign,
    verify,
)
from vigil.notify.service import BACKOFF_BASE, BACKOFF_CAP, backoff

SECRET = "server-secret"
NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)

ids = st.integers(1, 10**9)
actions = st.sampled_from(list(LinkAction))


def token(incident_id: int = 42, action: LinkAction = LinkAction.ACKNOWLEDGE, user: int = 7) -> str:
    return sign(SECRET, incident_id=incident_id, action=action, user_id=user, now=NOW)


@given(incident_id=ids, action=actions, user_id=ids)
def test_a_signed_link_says_what_it_was_signed_for(
    incident_id: int, action: LinkAction, user_id: int
) -> None:
    signed = sign(SECRET, incident_id=incident_id, action=action, user_id=user_id, now=NOW)
    claim = verify(SECRET, signed, now=NOW)
    assert (claim.incident_id, claim.action, claim.user_id) == (incident_id, action, user_id)
    assert claim.expires_at == NOW + LINK_LIFETIME


def with_part(signed: str, index: int, value: str) -> str:
    parts = signed.split(".")
    parts[index] = value
    return ".".join(parts)


@pytest.mark.parametrize(
    ("what", "index", "value"),
    [
        ("another incident", 0, "43"),
        ("the same incident, spelt differently", 0, "042"),
        ("another action", 1, "resolve"),
        ("a made-up action", 1, "delete"),
        ("another user", 2, "1"),
        ("a later expiry", 3, str(int((NOW + timedelta(days=365)).timestamp()))),
        ("another signature", 4, "A" * 27),
        ("no signature", 4, ""),
    ],
)
def test_a_link_with_any_part_changed_is_refused(what: str, index: int, value: str) -> None:
    with pytest.raises(BadLink):
        verify(SECRET, with_part(token(), index, value), now=NOW)


@given(
    position=st.integers(0, 200),
    replacement=st.sampled_from("0123456789abcdefghijklmnopqrstuvwxyzABCXYZ-_.="),
    incident_id=ids,
    action=actions,
    user_id=ids,
)
def test_changing_any_character_of_a_link_makes_it_invalid(
    position: int, replacement: str, incident_id: int, action: LinkAction, user_id: int
) -> None:
    signed = sign(SECRET, incident_id=incident_id, action=action, user_id=user_id, now=NOW)
    index = position % len(signed)
    tampered = signed[:index] + replacement + signed[index + 1 :]
    if tampered == signed:
        return
    with pytest.raises(BadLink):
        verify(SECRET, tampered, now=NOW)


@pytest.mark.parametrize(
    "garbage",
    ["", "abc", "1.ack.2.3", "1.ack.2.3.sig.extra", "....", "%2e%2e", "x" * 500],
)
def test_something_that_is_not_a_link_is_refused(garbage: str) -> None:
    with pytest.raises(BadLink):
        verify(SECRET, garbage, now=NOW)


def test_a_link_signed_with_another_secret_is_refused() -> None:
    foreign = sign("another-server", incident_id=42, action=LinkAction.RESOLVE, user_id=7, now=NOW)
    with pytest.raises(BadLink):
        verify(SECRET, foreign, now=NOW)


def test_a_link_works_for_a_day_and_then_expires() -> None:
    signed = token()
    assert verify(SECRET, signed, now=NOW + LINK_LIFETIME - timedelta(seconds=1)).user_id == 7
    with pytest.raises(ExpiredLink):
        verify(SECRET, signed, now=NOW + LINK_LIFETIME)
    with pytest.raises(ExpiredLink):
        verify(SECRET, signed, now=NOW + timedelta(hours=25))


def test_an_expired_link_that_was_also_tampered_with_is_refused_as_tampered() -> None:
    """Tampering is checked first, so an old link cannot be used to probe for valid ids."""
    with pytest.raises(BadLink):
        verify(SECRET, with_part(token(), 0, "43"), now=NOW + timedelta(days=2))


def test_each_page_carries_acknowledge_resolve_and_open_links_for_its_reader() -> None:
    links = action_links("https://vigil.example/", SECRET, incident_id=42, user_id=7, now=NOW)
    assert [link["label"] for link in links] == ["Acknowledge", "Resolve", "Open"]
    claims = []
    for link in links:
        assert link["url"].startswith("https://vigil.example/a/")
        claims.append(verify(SECRET, link["url"].removeprefix("https://vigil.example/a/"), now=NOW))
    assert [c.action for c in claims] == [
        LinkAction.ACKNOWLEDGE,
        LinkAction.RESOLVE,
        LinkAction.OPEN,
    ]
    assert {(c.incident_id, c.user_id) for c in claims} == {(42, 7)}


# --- retry backoff -------------------------------------------------------------------------


class NoJitter(random.Random):
    """Jitter pinned to a given factor, to see the curve underneath."""

    def __init__(self, factor: float) -> None:
        super().__init__(0)
        self.factor = factor

    def uniform(self, a: float, b: float) -> float:
        return self.factor


def expected(attempts: int) -> timedelta:
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)


def test_backoff_doubles_from_five_seconds_to_a_ten_minute_cap() -> None:
    flat = NoJitter(1.0)
    waits = [backoff(n, flat).total_seconds() for n in range(1, 11)]
    assert waits == [5, 10, 20, 40, 80, 160, 320, 600, 600, 600]


@given(attempts=st.integers(0, 40))
def test_backoff_never_shrinks_as_attempts_grow(attempts: int) -> None:
    flat = NoJitter(1.0)
    assert backoff(attempts, flat) <= backoff(attempts + 1, flat) <= BACKOFF_CAP


@given(attempts=st.integers(0, 40), seed=st.integers(0, 2**32))
def test_backoff_jitter_stays_within_twenty_percent(attempts: int, seed: int) -> None:
    wait = backoff(attempts, random.Random(seed))
    assert expected(attempts) * 0.8 <= wait <= expected(attempts) * 1.2
    assert wait <= BACKOFF_CAP * 1.2


def test_backoff_jitter_spreads_retries_out() -> None:
    rng = random.Random(1)
    waits = {backoff(3, rng) for _ in range(50)}
    assert len(waits) > 40
    assert min(waits) < timedelta(seconds=18) < timedelta(seconds=22) < max(waits)


def test_backoff_is_capped_for_any_number_of_attempts() -> None:
    assert backoff(100, NoJitter(1.0)) == BACKOFF_CAP
