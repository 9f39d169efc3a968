"""Signed, expiring action links (acknowledge, resolve, open) that work without logging in.

The token is `incident.action.user.expiry.signature`, the signature an HMAC-SHA256 over the rest
with the server's secret key, so a link cannot be altered to act on another incident, as another
user, or after it expires.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

LINK_LIFETIME = timedelta(hours=24)


class LinkAction(StrEnum):
    ACKNOWLEDGE = "ack"
    RESOLVE = "resolve"
    OPEN = "open"


class BadLink(Exception):
    """The link was tampered with or is not a link of ours."""


class ExpiredLink(Exception):
    """The link was ours but its time is up."""


@dataclass(frozen=True, slots=True)
class LinkClaim:
    incident_id: int
    action: LinkAction
    user_id: int
    expires_at: datetime


def _signature(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:20]).decode().rstrip("=")


def sign(secret: str, *, incident_id: int, action: LinkAction, user_id: int, now: datetime) -> str:
    expires = int((now + LINK_LIFETIME).timestamp())
    payload = f"{incident_id}.{action.value}.{user_id}.{expires}"
    return f"{payload}.{_signature(secret, payload)}"


def verify(secret: str, token: str, *, now: datetime) -> LinkClaim:
    """The claim behind a token; BadLink when tampered with, ExpiredLink when too old."""
    parts = token.split(".")
    if len(parts) != 5:
        raise BadLink("not a Vigil link")
    payload, signature = ".".join(parts[:4]), parts[4]
    if not hmac.compare_digest(_signature(secret, payload), signature):
        raise BadLink("the link's signature does not match")
    try:
        incident_id, action, user_id, expires = (
            int(parts[0]),
            LinkAction(parts[1]),
            int(parts[2]),
            int(parts[3]),
        )
    except ValueError as exc:
        raise BadLink("not a Vigil link") from exc
    claim = LinkClaim(incident_id, action, user_id, datetime.fromtimestamp(expires, UTC))
    if now >= claim.expires_at:
        raise ExpiredLink("this link has expired")
    return claim


def action_links(
    base_url: str, secret: str, *, incident_id: int, user_id: int, now: datetime
) -> list[dict[str, str]]:
    """Acknowledge, Resolve and Open links for one person, as message content."""
    base = base_url.rstrip("/")
    actions = (
        ("Acknowledge", LinkAction.ACKNOWLEDGE),
        ("Resolve", LinkAction.RESOLVE),
        ("Open", LinkAction.OPEN),
    )
    return [
        {
            "label": label,
            "url": f"{base}/a/"
            + sign(secret, incident_id=incident_id, action=action, user_id=user_id, now=now),
        }
        for label, action in actions
    ]
