"""SMS and voice calls through Twilio's REST API (Messages.json and Calls.json), base URL
configurable.

The base URL lets tests and Twilio-compatible gateways stand in for api.twilio.com. Twilio answers
`201` with a JSON resource whose `sid` becomes the provider id, and errors as JSON `{"code",
"message", ...}`.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode
from xml.sax.saxutils import escape as xml_escape

import httpx

from vigil.notify.channels.base import Destination, Message, SendResult
from vigil.notify.channels.http import HttpChannel, HttpOptions, post, structured_error_text

SMS_LIMIT = 160
MIN_SMS_TEXT = 60
VOICE_TEXT_LIMIT = 600


@dataclass(frozen=True, slots=True)
class TwilioConfig:
    """Account credentials and the sending number (E.164); `messaging_service_sid` replaces `From`
    for SMS."""

    account_sid: str
    auth_token: str = field(repr=False)
    from_number: str
    base_url: str = "https://api.twilio.com"
    messaging_service_sid: str | None = None


def _sid(response: httpx.Response) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    sid = data.get("sid") if isinstance(data, dict) else None
    return sid if isinstance(sid, str) else None


def _gsm_safe(text: str) -> str:
    # A single non-GSM character (an em dash, a smart quote) turns an SMS into UCS-2 with
    # 70-character segments.
    table = str.maketrans({"—": "-", "–": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "…": "..."})
    return " ".join(text.translate(table).split())


def sms_text(message: Message) -> str:
    """Subject, summary if room, and the first link (Acknowledge), kept within one 160-character SMS
    where the link leaves room; a very long link still goes out whole, since acting on the page
    matters more."""
    text = _gsm_safe(message.subject)
    summary = _gsm_safe(message.summary)
    link = message.links[0].url if message.links else ""
    budget = SMS_LIMIT - (len(link) + 1 if link else 0)
    if summary and len(text) + 2 + len(summary) <= budget:
        text = f"{text}: {summary}"
    budget = max(budget, MIN_SMS_TEXT)
    if len(text) > budget:
        text = text[: budget - 3] + "..."
    return f"{text}\n{link}" if link else text


def voice_text(message: Message) -> str:
    """What the call says: words a speech engine reads well, not the bracketed subject."""
    parts = ["This is Vigil."]
    if message.severity:
        parts.append(f"Severity {message.severity.removeprefix('SEV')}.")
    if message.incident_number is not None:
        parts.append(f"Incident {message.incident_number}.")
    if message.service_name:
        parts.append(f"Service {message.service_name}.")
    parts.append(message.title.rstrip(".") + ".")
    if message.summary:
        parts.append(message.summary)
    text = " ".join(" ".join(parts).split())
    return text[:VOICE_TEXT_LIMIT]


def twiml(text: str) -> str:
    """TwiML that reads `text` aloud; escaped so alert text cannot add verbs (a <Dial> to
    anywhere)."""
    return f"<Response><Say>{xml_escape(text)}</Say></Response>"


class _TwilioChannel(HttpChannel):
    """Shared by SMS and voice: the account URL, basic auth, and Twilio's error and sid handling."""

    resource = ""

    def __init__(
        self,
        config: TwilioConfig,
        *,
        options: HttpOptions | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        super().__init__(options=options, client=client)
        self.config = config

    @property
    def url(self) -> str:
        account = quote(self.config.account_sid, safe="")
        base = self.config.base_url.rstrip("/")
        return f"{base}/2010-04-01/Accounts/{account}/{self.resource}"

    @abstractmethod
    def form(self, destination: Destination, message: Message) -> dict[str, str]: ...

    def send(self, destination: Destination, message: Message) -> SendResult:
        return post(
            self.client,
            self.url,
            content=urlencode(self.form(destination, message)).encode(),
            content_type="application/x-www-form-urlencoded",
            headers={
                "I-Twilio-Idempotency-Token": message.idempotency_key,
                "Idempotency-Key": message.idempotency_key,
                "Accept": "application/json",
            },
            auth=(self.config.account_sid, self.config.auth_token),
            error_text=structured_error_text,
            provider_id=_sid,
        )


class SmsChannel(_TwilioChannel):
    """Texts the destination's E.164 number."""

    resource = "Messages.json"

    def form(self, destination: Destination, message: Message) -> dict[str, str]:
        fields = {"To": destination.address, "Body": sms_text(message)}
        if self.config.messaging_service_sid:
            fields["MessagingServiceSid"] = self.config.messaging_service_sid
        else:
            fields["From"] = self.config.from_number
        return fields


class VoiceChannel(_TwilioChannel):
    """Calls the destination's E.164 number and reads the page aloud."""

    resource = "Calls.json"

    def form(self, destination: Destination, message: Message) -> dict[str, str]:
        return {
            "To": destination.address,
            "From": self.config.from_number,
            "Twiml": twiml(voice_text(message)),
        }
