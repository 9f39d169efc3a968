"""The channel set a worker sends with, built from settings."""

from __future__ import annotations

from vigil.clock import Clock
from vigil.config import Settings
from vigil.notify.channels import (
    ChannelKind,
    ChannelSet,
    EmailChannel,
    HttpOptions,
    SlackChannel,
    SmsChannel,
    SmtpConfig,
    SmtpSecurity,
    TeamsChannel,
    TwilioConfig,
    VoiceChannel,
    WebhookChannel,
    make_client,
)
from vigil.notify.channels.base import Channel
from vigil.notify.channels.console import ConsoleChannel


def channels_from_settings(settings: Settings, clock: Clock) -> ChannelSet:
    """Slack, Teams and webhooks always; email by SMTP (or the console); SMS and voice by Twilio."""
    client = make_client(HttpOptions(timeout=settings.notify_http_timeout_seconds))
    channels: dict[ChannelKind, Channel] = {
        ChannelKind.SLACK: SlackChannel(client=client),
        ChannelKind.TEAMS: TeamsChannel(client=client),
        ChannelKind.WEBHOOK: WebhookChannel(client=client, clock=clock),
    }
    if settings.smtp_host:
        channels[ChannelKind.EMAIL] = EmailChannel(
            SmtpConfig(
                host=settings.smtp_host,
                port=settings.smtp_port,
                security=SmtpSecurity(settings.smtp_security),
                username=settings.smtp_username,
                password=settings.smtp_password,
                from_address=settings.smtp_from,
                timeout=settings.notify_http_timeout_seconds,
            ),
            clock=clock,
        )
    else:
        channels[ChannelKind.EMAIL] = ConsoleChannel()
    if settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from_number:
        twilio = TwilioConfig(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            from_number=settings.twilio_from_number,
            base_url=settings.twilio_base_url,
        )
        channels[ChannelKind.SMS] = SmsChannel(twilio, client=client)
        channels[ChannelKind.VOICE] = VoiceChannel(twilio, client=client)
    return ChannelSet(channels)
