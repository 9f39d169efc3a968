"""The one interface every channel adapter implements, and the values that cross it.

The outbox sender builds a `Message` and a `Destination` from its rows, calls `Channel.send`, and
records the `SendResult`. Adapters never raise for provider or network trouble: they say whether a
retry could help (`permanent=False`) or never will (`permanent=True`), so retry policy lives in one
place, the sender.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable


class ChannelKind(StrEnum):
    """How a destination is reached; contact methods and policy channel targets store these."""

    EMAIL = "email"
    SMS = "sms"
    VOICE = "voice"
    SLACK = "slack"
    TEAMS = "teams"
    WEBHOOK = "webhook"


class MessageKind(StrEnum):
    """Why a message is sent; adapters use it for colour and wording, webhooks for the default
    event."""

    PAGE = "page"
    TEST = "test"
    UPDATE = "update"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Link:
    """A labelled URL (Acknowledge, Resolve, Open); the URLs are signed elsewhere and trusted
    here."""

    label: str
    url: str


@dataclass(frozen=True, slots=True)
class Message:
    """What to say, independent of the channel.

    `title`, `summary`, `body` and `service_name` come from alerts and are untrusted: every adapter
    escapes them for its medium. `subject` is the short line shown first everywhere ("[SEV1] #42
    Disk full on db-1").
    """

    idempotency_key: str
    kind: MessageKind
    title: str
    summary: str = ""
    severity: str | None = None
    incident_number: int | None = None
    service_name: str | None = None
    body: str = ""
    links: tuple[Link, ...] = ()
    # Outbound incident subscriptions set this ("incident.triggered"); the generic webhook sends it
    # as `event`.
    event: str | None = None

    @property
    def subject(self) -> str:
        """The one-line headline: resolution marker, severity, incident number, title."""
        parts: list[str] = []
        if self.kind is MessageKind.RESOLVED:
            parts.append("[RESOLVED]")
        if self.severity:
            parts.append(f"[{self.severity}]")
        if self.incident_number is not None:
            parts.append(f"#{self.incident_number}")
        parts.append(self.title)
        return " ".join(parts)

    @property
    def event_name(self) -> str:
        """The generic webhook's `event`: the subscription event if set, else
        `notification.<kind>`."""
        return self.event or f"notification.{self.kind.value}"


@dataclass(frozen=True, slots=True)
class Destination:
    """Where to send: an email address, an E.164 phone number, or an https URL (Slack, Teams,
    webhook).

    `secret` signs generic webhook requests; other channels ignore it.
    """

    kind: ChannelKind
    address: str
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one attempt, ready to be written on the message row and the incident
    timeline."""

    ok: bool
    provider_id: str | None = None
    permanent: bool = False
    error: str | None = None
    status_code: int | None = None
    # Seconds the provider asked us to wait (HTTP Retry-After), when it said so.
    retry_after: float | None = None

    @classmethod
    def sent(cls, *, provider_id: str | None = None, status_code: int | None = None) -> SendResult:
        return cls(ok=True, provider_id=provider_id, status_code=status_code)

    @classmethod
    def transient(
        cls, error: str, *, status_code: int | None = None, retry_after: float | None = None
    ) -> SendResult:
        """A failure worth retrying: the provider was down, slow, busy or unreachable."""
        return cls(ok=False, error=error, status_code=status_code, retry_after=retry_after)

    @classmethod
    def failed(cls, error: str, *, status_code: int | None = None) -> SendResult:
        """A failure no retry will fix: the provider refused this request or this destination."""
        return cls(ok=False, permanent=True, error=error, status_code=status_code)


@runtime_checkable
class Channel(Protocol):
    """A channel adapter. `send` is synchronous (the sender runs it in a worker thread) and never
    raises for provider or network failures; it returns a classified `SendResult` instead."""

    def send(self, destination: Destination, message: Message) -> SendResult: ...


class ChannelSet:
    """The configured adapters by kind, so the sender can send to any destination in one call."""

    def __init__(self, channels: Mapping[ChannelKind, Channel]) -> None:
        self._channels = dict(channels)

    def __contains__(self, kind: object) -> bool:
        return kind in self._channels

    def get(self, kind: ChannelKind) -> Channel | None:
        return self._channels.get(kind)

    def close(self) -> None:
        """Close the adapters that hold connections (HTTP clients); the SMTP adapter holds none."""
        for channel in self._channels.values():
            close = getattr(channel, "close", None)
            if callable(close):
                close()

    def send(self, destination: Destination, message: Message) -> SendResult:
        """Send through the adapter for `destination.kind`; an unconfigured kind is a permanent
        failure."""
        channel = self._channels.get(destination.kind)
        if channel is None:
            return SendResult.failed(f"no {destination.kind.value} channel is configured")
        return channel.send(destination, message)
