"""Microsoft Teams Workflows webhooks: an Adaptive Card in exactly the shape Alertmanager's
msteamsv2 posts.

Matching Alertmanager means a Workflow built for Alertmanager ("When a Teams webhook request is
received", then "Post card in a chat or channel" with the attachment's content) works for Vigil
unchanged. We add `Action.OpenUrl` buttons for the links. Workflows answer 2xx (usually 202) on
success.
"""

from __future__ import annotations

import json
from typing import Any

from vigil.notify.channels.base import Destination, Message, MessageKind, SendResult
from vigil.notify.channels.http import HttpChannel, post, structured_error_text


def escape(text: str) -> str:
    """Teams renders TextBlock text as Markdown, so an alert title could plant a clickable
    `[Acknowledge](https://evil)`. An invisible zero-width space between `]` and `(` breaks the link
    syntax without relying on backslash escapes, which Teams' Markdown subset does not promise."""
    return text.replace("](", "]\u200b(")


def _colour(message: Message) -> str:
    if message.kind is MessageKind.RESOLVED:
        return "Good"
    if message.kind is MessageKind.PAGE:
        return "Attention"
    return "Warning" if message.kind is MessageKind.UPDATE else "Accent"


def _text(message: Message) -> str:
    lines: list[str] = []
    if message.summary:
        lines.append(escape(message.summary))
    facts = [
        ("Severity", message.severity),
        ("Service", message.service_name),
        (
            "Incident",
            f"#{message.incident_number}" if message.incident_number is not None else None,
        ),
    ]
    # Adaptive Card Markdown needs a blank line between paragraphs; "\n\n" is what msteamsv2
    # templates use.
    lines.extend(f"**{name}:** {escape(value)}" for name, value in facts if value)
    if message.body and message.body != message.summary:
        lines.append(escape(message.body))
    return "\n\n".join(lines) or escape(message.subject)


def build_payload(message: Message) -> dict[str, Any]:
    """The message body: one heading TextBlock, one text TextBlock, and the links as OpenUrl
    actions."""
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.2",
        "body": [
            {
                "type": "TextBlock",
                "text": escape(message.subject),
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
                "style": "heading",
                "color": _colour(message),
            },
            {"type": "TextBlock", "text": _text(message), "wrap": True},
        ],
        "msteams": {"width": "full"},
    }
    if message.links:
        content["actions"] = [
            {"type": "Action.OpenUrl", "title": link.label, "url": link.url}
            for link in message.links
        ]
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": content,
            }
        ],
    }


class TeamsChannel(HttpChannel):
    """Posts to a Teams Workflows webhook URL (the destination's address)."""

    def send(self, destination: Destination, message: Message) -> SendResult:
        body = json.dumps(build_payload(message), ensure_ascii=False).encode()
        return post(
            self.client,
            destination.address,
            content=body,
            content_type="application/json; charset=utf-8",
            headers={"Idempotency-Key": message.idempotency_key},
            error_text=structured_error_text,
        )
