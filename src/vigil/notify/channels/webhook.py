"""Generic outbound webhook: a documented JSON body, signed so receivers can refuse forgeries and
replays.

Receiving Vigil webhooks
========================

Vigil sends ``POST <your URL>`` with ``Content-Type: application/json`` and these headers:

``Idempotency-Key``
    The same for every delivery attempt of one message. Vigil delivers at least once, so a receiver
    that must act once should remember the keys it has seen (a day is plenty).
``X-Vigil-Timestamp``
    Unix time in seconds when this attempt was signed.
``X-Vigil-Signature``
    ``sha256=`` + hex HMAC-SHA256, keyed with the destination's secret, over
    ``f"{timestamp}.{raw_body}"`` (the header's timestamp, a dot, then the request body exactly as
    received, before any JSON parsing). Sent only when the destination has a secret.

To verify: recompute the HMAC over the raw body, compare in constant time, and refuse the request
when the timestamp is more than five minutes from your clock (a replay). `verify_signature` does all
three::

    from vigil.notify.channels.webhook import verify_signature
    if not verify_signature(secret, request.headers["X-Vigil-Timestamp"], raw_body,
                            request.headers["X-Vigil-Signature"], now=time.time()):
        return 401

The body (version 1; fields may be added, never renamed)::

    {
      "version": "1",
      "event": "notification.page",        // or a subscription event: "incident.triggered",
                                           // ".acknowledged", ".escalated", ".resolved", ...
      "kind": "page",                      // page | test | update | resolved
      "idempotency_key": "msg-123-1",
      "sent_at": "2026-01-05T09:00:00Z",   // when this attempt was made (UTC)
      "subject": "[SEV1] #42 Disk full on db-1",
      "incident": {"number": 42, "title": "Disk full on db-1", "severity": "SEV1", "service": "db"},
                                           // null for messages about no incident (tests)
      "summary": "/ is 97% full",
      "body": "longer text, may be empty",
      "links": [{"label": "Acknowledge", "url": "https://vigil.example/l/..."}]
    }

Answer 2xx to accept. Vigil retries 408, 429 and 5xx answers, timeouts and connection errors with
backoff, and gives up at once on any other status, recording your response body as the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import httpx

from vigil.clock import Clock, SystemClock
from vigil.notify.channels.base import Destination, Message, SendResult
from vigil.notify.channels.http import HttpChannel, HttpOptions, post, structured_error_text

SIGNATURE_PREFIX = "sha256="
DEFAULT_TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The X-Vigil-Signature value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SIGNATURE_PREFIX + digest.hexdigest()


def verify_signature(
    secret: str,
    timestamp: int | str,
    body: bytes,
    signature: str,
    now: datetime | float,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """True when `signature` is ours for exactly this body and timestamp, and the timestamp is
    within `tolerance` seconds of `now` (a datetime or unix seconds): a tampered or replayed request
    fails."""
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    current = now.timestamp() if isinstance(now, datetime) else float(now)
    if abs(current - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature.strip())


def build_payload(message: Message, *, sent_at: datetime) -> dict[str, Any]:
    """The documented body (see the module docstring)."""
    incident: dict[str, Any] | None = None
    if message.incident_number is not None:
        incident = {
            "number": message.incident_number,
            "title": message.title,
            "severity": message.severity,
            "service": message.service_name,
        }
    return {
        "version": "1",
        "event": message.event_name,
        "kind": message.kind.value,
        "idempotency_key": message.idempotency_key,
        "sent_at": sent_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "subject": message.subject,
        "incident": incident,
        "summary": message.summary,
        "body": message.body,
        "links": [{"label": link.label, "url": link.url} for link in message.links],
    }


class WebhookChannel(HttpChannel):
    """Posts the signed JSON body to the destination's URL."""

    def __init__(
        self,
        *,
        options: HttpOptions | None = None,
        client: httpx.Client | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(options=options, client=client)
        self.clock: Clock = clock or SystemClock()

    def send(self, destination: Destination, message: Message) -> SendResult:
        now = self.clock.now()
        timestamp = int(now.timestamp())
        body = json.dumps(build_payload(message, sent_at=now), ensure_ascii=False).encode()
        headers = {"Idempotency-Key": message.idempotency_key, "X-Vigil-Timestamp": str(timestamp)}
        if destination.secret:
            headers["X-Vigil-Signature"] = sign(destination.secret, timestamp, body)
        return post(
            self.client,
            destination.address,
            content=body,
            content_type="application/json",
            headers=headers,
            error_text=structured_error_text,
        )
