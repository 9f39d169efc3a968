"""Channel adapters: one small class per way of reaching someone, all behind `Channel.send`."""

from vigil.notify.channels.base import (
    Channel,
    ChannelKind,
    ChannelSet,
    Destination,
    Link,
    Message,
    MessageKind,
    SendResult,
)
from vigil.notify.channels.email import EmailChannel, SmtpConfig, SmtpSecurity
from vigil.notify.channels.http import HttpOptions, make_client
from vigil.notify.channels.slack import SlackChannel
from vigil.notify.channels.teams import TeamsChannel
from vigil.notify.channels.twilio import SmsChannel, TwilioConfig, VoiceChannel
from vigil.notify.channels.webhook import WebhookChannel, sign, verify_signature

__all__ = [
    "Channel",
    "ChannelKind",
    "ChannelSet",
    "Destination",
    "EmailChannel",
    "HttpOptions",
    "Link",
    "Message",
    "MessageKind",
    "SendResult",
    "SlackChannel",
    "SmsChannel",
    "SmtpConfig",
    "SmtpSecurity",
    "TeamsChannel",
    "TwilioConfig",
    "VoiceChannel",
    "WebhookChannel",
    "make_client",
    "sign",
    "verify_signature",
]
