"""Slack incoming webhooks: a Block Kit message with severity, summary, service and link buttons.

Slack answers `200` with the plain-text body `ok`; errors are plain-text codes (`400
invalid_payload`, `403 action_prohibited`, `404 channel_not_found`, `410 channel_is_archived`, `500
rollup_error`), which end up verbatim in the SendResult's error so the timeline says what Slack
said.
"""

from __future__ import annotations

import json
from typing import Any

from vigil.notify.channels.base import Destination, Message, MessageKind, SendResult
from vigil.notify.channels.http import HttpChannel, post

# Block Kit limits: header text 150, section text 3000, button text 75, actions block 25 elements.
HEADER_LIMIT = 150
SECTION_LIMIT = 3000
BUTTON_LIMIT = 75
MAX_BUTTONS = 25
FALLBACK_LIMIT = 4000


def escape(text: str) -> str:
    """Slack's control characters: without this, `<!channel>` or `<https://evil|Acknowledge>` in an
    alert title would ping everyone or plant a fake link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _severity_emoji(message: Message) -> str:
    if message.kind is MessageKind.RESOLVED:
        return ":white_check_mark:"
    if message.kind is MessageKind.TEST:
        return ":wave:"
    return ":rotating_light:" if message.severity in {"SEV1", "SEV2"} else ":warning:"


def build_payload(message: Message) -> dict[str, Any]:
    """The webhook body: `text` is the notification fallback, `blocks` what the channel shows."""
    fields: list[dict[str, str]] = []
    if message.severity:
        fields.append({"type": "mrkdwn", "text": f"*Severity*\n{escape(message.severity)}"})
    if message.service_name:
        fields.append({"type": "mrkdwn", "text": f"*Service*\n{escape(message.service_name)}"})
    if message.incident_number is not None:
        fields.append({"type": "mrkdwn", "text": f"*Incident*\n#{message.incident_number}"})
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _cut(escape(message.subject), HEADER_LIMIT),
                "emoji": True,
            },
        }
    ]
    summary = message.summary or message.body
    section: dict[str, Any] = {"type": "section"}
    if summary:
        section["text"] = {
            "type": "mrkdwn",
            "text": _cut(f"{_severity_emoji(message)} {escape(summary)}", SECTION_LIMIT),
        }
    if fields:
        section["fields"] = fields
    if len(section) > 1:
        blocks.append(section)
    if message.links:
        buttons: list[dict[str, Any]] = []
        for index, link in enumerate(message.links[:MAX_BUTTONS]):
            button: dict[str, Any] = {
                "type": "button",
                "text": {"type": "plain_text", "text": _cut(link.label, BUTTON_LIMIT)},
                "url": link.url,
                "action_id": f"vigil-link-{index}",
            }
            if index == 0 and message.kind is MessageKind.PAGE:
                button["style"] = "primary"
            buttons.append(button)
        blocks.append({"type": "actions", "elements": buttons})
    fallback = escape(message.subject)
    if message.summary:
        fallback += f": {escape(message.summary)}"
    return {"text": _cut(fallback, FALLBACK_LIMIT), "blocks": blocks}


class SlackChannel(HttpChannel):
    """Posts to a Slack incoming-webhook URL (the destination's address)."""

    def send(self, destination: Destination, message: Message) -> SendResult:
        body = json.dumps(build_payload(message), ensure_ascii=False).encode()
        return post(
            self.client,
            destination.address,
            content=body,
            content_type="application/json; charset=utf-8",
            headers={"Idempotency-Key": message.idempotency_key},
        )
