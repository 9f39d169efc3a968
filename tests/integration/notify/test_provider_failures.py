"""Every HTTP channel classifies provider trouble alike: retry what may pass, give up on the rest.

Each case runs against a real receiver (or a closed port) for Slack, Teams, the generic webhook, and
Twilio SMS and voice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.integration.notify.conftest import HttpReceiver
from vigil.notify.channels import (
    Channel,
    ChannelKind,
    ChannelSet,
    Destination,
    HttpOptions,
    Message,
    MessageKind,
    SendResult,
    SlackChannel,
    SmsChannel,
    TeamsChannel,
    TwilioConfig,
    VoiceChannel,
    WebhookChannel,
)
from vigil.notify.channels.http import HttpChannel

# Short enough to keep the timeout case quick; the receiver sleeps well past it.
CLIENT_TIMEOUT = 0.3
PAGE = Message(idempotency_key="msg-1", kind=MessageKind.PAGE, title="Disk full", severity="SEV2")

Sender = Callable[[str], SendResult]


def _twilio(base_url: str) -> TwilioConfig:
    return TwilioConfig(
        account_sid="AC1", auth_token="t", from_number="+15005550006", base_url=base_url
    )


def make_sender(kind: ChannelKind, base_url: str) -> tuple[HttpChannel, Destination]:
    options = HttpOptions(timeout=CLIENT_TIMEOUT, trust_env=False)
    channel: HttpChannel
    if kind is ChannelKind.SLACK:
        channel, address = SlackChannel(options=options), f"{base_url}/services/T/B/X"
    elif kind is ChannelKind.TEAMS:
        channel, address = TeamsChannel(options=options), f"{base_url}/workflows/run"
    elif kind is ChannelKind.WEBHOOK:
        channel, address = WebhookChannel(options=options), f"{base_url}/hook"
    elif kind is ChannelKind.SMS:
        channel, address = SmsChannel(_twilio(base_url), options=options), "+15558675310"
    else:
        channel, address = VoiceChannel(_twilio(base_url), options=options), "+15558675310"
    return channel, Destination(kind, address, secret="s")


HTTP_KINDS = [
    ChannelKind.SLACK,
    ChannelKind.TEAMS,
    ChannelKind.WEBHOOK,
    ChannelKind.SMS,
    ChannelKind.VOICE,
]


@pytest.fixture(params=HTTP_KINDS, ids=[k.value for k in HTTP_KINDS])
def kind(request: pytest.FixtureRequest) -> ChannelKind:
    value: ChannelKind = request.param
    return value


@pytest.fixture
def send_to(kind: ChannelKind) -> Iterator[Callable[[str], SendResult]]:
    """Send PAGE through the channel of `kind` pointed at a base URL."""
    opened: list[HttpChannel] = []

    def send(base_url: str) -> SendResult:
        channel, destination = make_sender(kind, base_url)
        opened.append(channel)
        return channel.send(destination, PAGE)

    yield send
    for channel in opened:
        channel.close()


def test_provider_5xx_is_a_transient_failure(receiver: HttpReceiver, send_to: Sender) -> None:
    receiver.reply(503, b"")

    result = send_to(receiver.url)

    assert not result.ok and not result.permanent
    assert result.error == "503 from provider"
    assert result.status_code == 503
    assert len(receiver.requests) == 1


def test_provider_that_answers_too_slowly_is_a_transient_failure(
    receiver: HttpReceiver, send_to: Sender
) -> None:
    receiver.reply(200, b"ok", delay=CLIENT_TIMEOUT * 10)

    result = send_to(receiver.url)

    assert not result.ok and not result.permanent
    assert result.error is not None and result.error.startswith("timed out")


def test_connection_refused_is_a_transient_failure(closed_port: int, send_to: Sender) -> None:
    result = send_to(f"http://127.0.0.1:{closed_port}")

    assert not result.ok and not result.permanent
    assert result.error is not None and result.error.startswith("could not connect")
    assert result.status_code is None


def test_provider_4xx_is_a_permanent_failure_with_the_providers_text(
    receiver: HttpReceiver, send_to: Sender
) -> None:
    receiver.reply(404, b"no_service")

    result = send_to(receiver.url)

    assert not result.ok and result.permanent
    assert result.error == "404 no_service"


def test_rate_limit_is_transient(receiver: HttpReceiver, send_to: Sender) -> None:
    receiver.reply(429, b"rate_limited", headers={"Retry-After": "1"})

    result = send_to(receiver.url)

    assert not result.permanent
    assert (result.error, result.retry_after) == ("429 rate_limited", 1.0)


def test_a_redirect_is_not_followed_and_not_counted_as_delivered(
    receiver: HttpReceiver, send_to: Sender
) -> None:
    receiver.reply(302, b"", headers={"Location": "http://127.0.0.1:1/elsewhere"})

    result = send_to(receiver.url)

    assert not result.ok and result.permanent
    assert len(receiver.requests) == 1


@pytest.mark.parametrize(
    "kind", [ChannelKind.SLACK, ChannelKind.TEAMS, ChannelKind.WEBHOOK], ids=str
)
def test_a_destination_that_is_not_an_http_url_fails_permanently_without_a_request(
    kind: ChannelKind,
) -> None:
    channel, _ = make_sender(kind, "http://unused")
    with channel:
        result = channel.send(Destination(kind, "file:///etc/passwd"), PAGE)

    assert result.permanent
    assert result.error == "not an http(s) URL: file:///etc/passwd"


def test_channel_set_sends_by_destination_kind_and_refuses_unconfigured_kinds(
    receiver: HttpReceiver,
) -> None:
    webhook, destination = make_sender(ChannelKind.WEBHOOK, receiver.url)
    with webhook:
        channels = ChannelSet({ChannelKind.WEBHOOK: webhook})
        assert isinstance(webhook, Channel)

        sent = channels.send(destination, PAGE)
        missing = channels.send(Destination(ChannelKind.SMS, "+15558675310"), PAGE)

    assert sent.ok
    assert missing.permanent and missing.error == "no sms channel is configured"
