"""The generic webhook against a real receiver: the documented body, a signature that verifies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.notify.conftest import HttpReceiver
from vigil.clock import FakeClock
from vigil.notify.channels import (
    ChannelKind,
    Destination,
    HttpOptions,
    Link,
    Message,
    MessageKind,
    WebhookChannel,
    verify_signature,
)

SECRET = "whsec-test-0123456789"
START = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)
PAGE = Message(
    idempotency_key="msg-42-1",
    kind=MessageKind.PAGE,
    title="Disk full on db-1",
    summary="/ is 97% full",
    severity="SEV1",
    incident_number=42,
    service_name="Database",
    links=(Link("Acknowledge", "https://vigil.example/l/ack?sig=abc"),),
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def webhook(clock: FakeClock) -> Iterator[WebhookChannel]:
    with WebhookChannel(options=HttpOptions(timeout=2, trust_env=False), clock=clock) as channel:
        yield channel


def hook(receiver: HttpReceiver, secret: str | None = SECRET) -> Destination:
    return Destination(ChannelKind.WEBHOOK, f"{receiver.url}/hooks/vigil", secret=secret)


def test_webhook_posts_the_documented_body_with_idempotency_and_timestamp_headers(
    receiver: HttpReceiver, webhook: WebhookChannel
) -> None:
    result = webhook.send(hook(receiver), PAGE)

    assert result.ok
    request = receiver.last
    assert request.path == "/hooks/vigil"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["idempotency-key"] == "msg-42-1"
    assert request.headers["x-vigil-timestamp"] == str(int(START.timestamp()))
    assert json.loads(request.body) == {
        "version": "1",
        "event": "notification.page",
        "kind": "page",
        "idempotency_key": "msg-42-1",
        "sent_at": "2026-01-05T03:00:00Z",
        "subject": "[SEV1] #42 Disk full on db-1",
        "incident": {
            "number": 42,
            "title": "Disk full on db-1",
            "severity": "SEV1",
            "service": "Database",
        },
        "summary": "/ is 97% full",
        "body": "",
        "links": [{"label": "Acknowledge", "url": "https://vigil.example/l/ack?sig=abc"}],
    }


def test_receiver_verifies_the_signature_and_refuses_tampering_and_replays(
    receiver: HttpReceiver, webhook: WebhookChannel, clock: FakeClock
) -> None:
    assert webhook.send(hook(receiver), PAGE).ok
    request = receiver.last
    timestamp = request.headers["x-vigil-timestamp"]
    signature = request.headers["x-vigil-signature"]

    assert signature.startswith("sha256=")
    assert verify_signature(SECRET, timestamp, request.body, signature, now=clock.now())
    assert verify_signature(SECRET, timestamp, request.body, signature, now=START.timestamp() + 60)
    tampered = request.body.replace(b'"SEV1"', b'"SEV4"')
    assert tampered != request.body
    assert not verify_signature(SECRET, timestamp, tampered, signature, now=clock.now())
    assert not verify_signature("other-secret", timestamp, request.body, signature, now=clock.now())
    newer = str(int(timestamp) + 1)
    assert not verify_signature(SECRET, newer, request.body, signature, now=clock.now())
    replayed_later = clock.now() + timedelta(minutes=10)
    assert not verify_signature(SECRET, timestamp, request.body, signature, now=replayed_later)
    assert not verify_signature(SECRET, "not-a-number", request.body, signature, now=clock.now())


def test_each_attempt_is_signed_at_its_own_time_with_the_same_idempotency_key(
    receiver: HttpReceiver, webhook: WebhookChannel, clock: FakeClock
) -> None:
    webhook.send(hook(receiver), PAGE)
    clock.advance(minutes=2)
    webhook.send(hook(receiver), PAGE)

    first, retry = receiver.requests
    assert first.headers["idempotency-key"] == retry.headers["idempotency-key"] == "msg-42-1"
    assert int(retry.headers["x-vigil-timestamp"]) - int(first.headers["x-vigil-timestamp"]) == 120
    assert verify_signature(
        SECRET,
        retry.headers["x-vigil-timestamp"],
        retry.body,
        retry.headers["x-vigil-signature"],
        now=clock.now(),
    )


def test_webhook_without_a_secret_is_sent_unsigned(
    receiver: HttpReceiver, webhook: WebhookChannel
) -> None:
    assert webhook.send(hook(receiver, secret=None), PAGE).ok

    assert "x-vigil-signature" not in receiver.last.headers
    assert "x-vigil-timestamp" in receiver.last.headers


def test_subscription_event_and_test_messages_name_their_event(
    receiver: HttpReceiver, webhook: WebhookChannel
) -> None:
    triggered = Message(
        idempotency_key="sub-1",
        kind=MessageKind.UPDATE,
        title="Disk full on db-1",
        incident_number=42,
        event="incident.triggered",
    )
    test = Message(idempotency_key="test-1", kind=MessageKind.TEST, title="Test from Vigil")

    webhook.send(hook(receiver), triggered)
    webhook.send(hook(receiver), test)

    first, second = (json.loads(r.body) for r in receiver.requests)
    assert first["event"] == "incident.triggered"
    assert (second["event"], second["incident"]) == ("notification.test", None)
