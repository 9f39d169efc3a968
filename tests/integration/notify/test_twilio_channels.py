"""SMS and voice through Twilio's REST API, against a real receiver standing in at the base URL."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest

from tests.integration.notify.conftest import HttpReceiver
from vigil.notify.channels import (
    ChannelKind,
    Destination,
    HttpOptions,
    Link,
    Message,
    MessageKind,
    SmsChannel,
    TwilioConfig,
    VoiceChannel,
)

ACK = "https://vigil.example/l/a/42?u=7&e=1767600000&s=3f2a9c"
PAGE = Message(
    idempotency_key="msg-42-1",
    kind=MessageKind.PAGE,
    title="Disk full on db-1",
    summary="/ is 97% full",
    severity="SEV1",
    incident_number=42,
    service_name="Database",
    links=(Link("Acknowledge", ACK), Link("Open", "https://vigil.example/incidents/42")),
)
PHONE = Destination(ChannelKind.SMS, "+15558675310")
CREATED = {"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued"}


def config(receiver: HttpReceiver) -> TwilioConfig:
    return TwilioConfig(
        account_sid="AC0123456789abcdef",
        auth_token="tok3n",
        from_number="+15005550006",
        base_url=receiver.url,
    )


@pytest.fixture
def sms(receiver: HttpReceiver) -> Iterator[SmsChannel]:
    with SmsChannel(config(receiver), options=HttpOptions(timeout=2, trust_env=False)) as channel:
        yield channel


@pytest.fixture
def voice(receiver: HttpReceiver) -> Iterator[VoiceChannel]:
    options = HttpOptions(timeout=2, trust_env=False)
    with VoiceChannel(config(receiver), options=options) as channel:
        yield channel


def form(body: bytes) -> dict[str, str]:
    return {key: value for key, [value] in parse_qs(body.decode(), strict_parsing=True).items()}


def test_sms_is_posted_to_messages_json_with_basic_auth_and_the_idempotency_token(
    receiver: HttpReceiver, sms: SmsChannel
) -> None:
    receiver.reply(201, json.dumps(CREATED), content_type="application/json")

    result = sms.send(PHONE, PAGE)

    assert result.ok and result.status_code == 201
    assert result.provider_id == CREATED["sid"]
    request = receiver.last
    assert request.path == "/2010-04-01/Accounts/AC0123456789abcdef/Messages.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    expected_auth = base64.b64encode(b"AC0123456789abcdef:tok3n").decode()
    assert request.headers["authorization"] == f"Basic {expected_auth}"
    assert request.headers["i-twilio-idempotency-token"] == "msg-42-1"
    assert request.headers["idempotency-key"] == "msg-42-1"
    fields = form(request.body)
    assert set(fields) == {"To", "From", "Body"}
    assert (fields["To"], fields["From"]) == ("+15558675310", "+15005550006")
    assert fields["Body"].startswith("[SEV1] #42 Disk full on db-1")
    assert fields["Body"].endswith(ACK)
    assert len(fields["Body"]) <= 160


def test_long_alert_text_is_cut_so_the_sms_with_its_link_stays_one_segment(
    receiver: HttpReceiver, sms: SmsChannel
) -> None:
    receiver.reply(201, json.dumps(CREATED), content_type="application/json")
    wordy = Message(
        idempotency_key="msg-43-1",
        kind=MessageKind.PAGE,
        title="Replication lag — " + "very " * 40 + "high",
        severity="SEV2",
        incident_number=43,
        links=(Link("Acknowledge", ACK),),
    )

    assert sms.send(PHONE, wordy).ok

    body = form(receiver.last.body)["Body"]
    assert len(body) <= 160
    assert body.startswith("[SEV2] #43 Replication lag - very")
    assert body.endswith(ACK)
    assert body.isascii()


def test_voice_call_reads_the_page_with_alert_text_escaped_in_twiml(
    receiver: HttpReceiver, voice: VoiceChannel
) -> None:
    receiver.reply(201, json.dumps({"sid": "CA42"}), content_type="application/json")
    hostile = Message(
        idempotency_key="msg-44-1",
        kind=MessageKind.PAGE,
        title="</Say><Dial>+19005551234</Dial><Say>",
        severity="SEV1",
        incident_number=44,
    )

    result = voice.send(Destination(ChannelKind.VOICE, "+15558675310"), hostile)

    assert result.ok and result.provider_id == "CA42"
    request = receiver.last
    assert request.path == "/2010-04-01/Accounts/AC0123456789abcdef/Calls.json"
    assert request.headers["i-twilio-idempotency-token"] == "msg-44-1"
    fields = form(request.body)
    assert (fields["To"], fields["From"]) == ("+15558675310", "+15005550006")
    assert fields["Twiml"] == (
        "<Response><Say>This is Vigil. Severity 1. Incident 44. "
        "&lt;/Say&gt;&lt;Dial&gt;+19005551234&lt;/Dial&gt;&lt;Say&gt;.</Say></Response>"
    )


def test_twilio_error_message_and_code_are_the_failure_reason(
    receiver: HttpReceiver, sms: SmsChannel
) -> None:
    receiver.reply(
        400,
        json.dumps(
            {
                "code": 21211,
                "message": "The 'To' number +1555 is not a valid phone number.",
                "more_info": "https://www.twilio.com/docs/errors/21211",
                "status": 400,
            }
        ),
        content_type="application/json",
    )

    result = sms.send(PHONE, PAGE)

    assert not result.ok and result.permanent
    assert result.error == "400 The 'To' number +1555 is not a valid phone number. (code 21211)"


def test_twilio_rate_limit_is_transient_and_says_when_to_retry(
    receiver: HttpReceiver, sms: SmsChannel
) -> None:
    receiver.reply(
        429,
        json.dumps({"code": 20429, "message": "Too Many Requests", "status": 429}),
        content_type="application/json",
        headers={"Retry-After": "3"},
    )

    result = sms.send(PHONE, PAGE)

    assert not result.ok and not result.permanent
    assert result.error == "429 Too Many Requests (code 20429)"
    assert result.retry_after == 3.0
