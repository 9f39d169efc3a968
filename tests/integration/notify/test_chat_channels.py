"""Slack and Teams webhooks against a real HTTP receiver: the exact request each documents."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.notify.conftest import HttpReceiver
from vigil.notify.channels import (
    ChannelKind,
    Destination,
    HttpOptions,
    Link,
    Message,
    MessageKind,
    SlackChannel,
    TeamsChannel,
)

PAGE = Message(
    idempotency_key="msg-42-1",
    kind=MessageKind.PAGE,
    title="Disk full on db-1",
    summary="/ is 97% full",
    severity="SEV1",
    incident_number=42,
    service_name="Database",
    links=(
        Link("Acknowledge", "https://vigil.example/l/ack?sig=abc&exp=1"),
        Link("Resolve", "https://vigil.example/l/resolve?sig=def"),
        Link("Open", "https://vigil.example/incidents/42"),
    ),
)


@pytest.fixture
def slack() -> Iterator[SlackChannel]:
    with SlackChannel(options=HttpOptions(timeout=2, trust_env=False)) as channel:
        yield channel


@pytest.fixture
def teams() -> Iterator[TeamsChannel]:
    with TeamsChannel(options=HttpOptions(timeout=2, trust_env=False)) as channel:
        yield channel


def slack_hook(receiver: HttpReceiver) -> Destination:
    return Destination(ChannelKind.SLACK, f"{receiver.url}/services/T000/B000/XXXX")


def teams_hook(receiver: HttpReceiver) -> Destination:
    return Destination(ChannelKind.TEAMS, f"{receiver.url}/workflows/abc/triggers/manual/run")


def test_slack_page_is_a_block_kit_message_with_severity_service_and_link_buttons(
    receiver: HttpReceiver, slack: SlackChannel
) -> None:
    result = slack.send(slack_hook(receiver), PAGE)

    assert result.ok and result.status_code == 200
    request = receiver.last
    assert request.path == "/services/T000/B000/XXXX"
    assert request.headers["content-type"].startswith("application/json")
    assert request.headers["idempotency-key"] == "msg-42-1"
    body = json.loads(request.body)
    assert body["text"] == "[SEV1] #42 Disk full on db-1: / is 97% full"
    header, section, actions = body["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "[SEV1] #42 Disk full on db-1", "emoji": True},
    }
    assert "/ is 97% full" in section["text"]["text"]
    assert {"type": "mrkdwn", "text": "*Severity*\nSEV1"} in section["fields"]
    assert {"type": "mrkdwn", "text": "*Service*\nDatabase"} in section["fields"]
    assert actions["type"] == "actions"
    assert [(b["text"]["text"], b["url"]) for b in actions["elements"]] == [
        ("Acknowledge", "https://vigil.example/l/ack?sig=abc&exp=1"),
        ("Resolve", "https://vigil.example/l/resolve?sig=def"),
        ("Open", "https://vigil.example/incidents/42"),
    ]
    assert all(b["type"] == "button" for b in actions["elements"])


def test_slack_escapes_mentions_and_links_hidden_in_alert_text(
    receiver: HttpReceiver, slack: SlackChannel
) -> None:
    hostile = Message(
        idempotency_key="msg-9",
        kind=MessageKind.PAGE,
        title="<!channel> R&D down",
        summary="click <https://evil.example|Acknowledge>",
        service_name="<@U123>",
    )

    assert slack.send(slack_hook(receiver), hostile).ok

    raw = receiver.last.body.decode()
    assert "<!channel>" not in raw and "<https://evil" not in raw and "<@U123>" not in raw
    body = json.loads(raw)
    assert body["text"] == (
        "&lt;!channel&gt; R&amp;D down: click &lt;https://evil.example|Acknowledge&gt;"
    )
    assert body["blocks"][0]["text"]["text"] == "&lt;!channel&gt; R&amp;D down"


@pytest.mark.parametrize(
    ("status", "code", "permanent"),
    [
        (400, "invalid_payload", True),
        (403, "action_prohibited", True),
        (404, "channel_not_found", True),
        (410, "channel_is_archived", True),
        (500, "rollup_error", False),
    ],
)
def test_slack_plain_text_error_codes_are_reported_as_slack_wrote_them(
    receiver: HttpReceiver, slack: SlackChannel, status: int, code: str, permanent: bool
) -> None:
    receiver.reply(status, code)

    result = slack.send(slack_hook(receiver), PAGE)

    assert not result.ok
    assert result.permanent is permanent
    assert result.error == f"{status} {code}"
    assert result.status_code == status


def card(body: dict[str, Any]) -> dict[str, Any]:
    [attachment] = body["attachments"]
    content: dict[str, Any] = attachment["content"]
    return content


def test_teams_page_is_the_adaptive_card_alertmanager_msteamsv2_posts(
    receiver: HttpReceiver, teams: TeamsChannel
) -> None:
    receiver.reply(202, b"")

    result = teams.send(teams_hook(receiver), PAGE)

    assert result.ok and result.status_code == 202
    request = receiver.last
    assert request.headers["content-type"].startswith("application/json")
    assert request.headers["idempotency-key"] == "msg-42-1"
    body = json.loads(request.body)
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    content = attachment["content"]
    assert content["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert (content["type"], content["version"]) == ("AdaptiveCard", "1.2")
    assert content["msteams"] == {"width": "full"}
    heading, text = content["body"]
    assert heading == {
        "type": "TextBlock",
        "text": "[SEV1] #42 Disk full on db-1",
        "weight": "Bolder",
        "size": "Medium",
        "wrap": True,
        "style": "heading",
        "color": "Attention",
    }
    assert text["type"] == "TextBlock" and text["wrap"] is True
    assert "/ is 97% full" in text["text"] and "Database" in text["text"]
    assert content["actions"] == [
        {"type": "Action.OpenUrl", "title": "Acknowledge", "url": PAGE.links[0].url},
        {"type": "Action.OpenUrl", "title": "Resolve", "url": PAGE.links[1].url},
        {"type": "Action.OpenUrl", "title": "Open", "url": PAGE.links[2].url},
    ]


def test_teams_resolved_card_is_green_like_alertmanagers(
    receiver: HttpReceiver, teams: TeamsChannel
) -> None:
    resolved = Message(
        idempotency_key="msg-42-9", kind=MessageKind.RESOLVED, title="Disk full on db-1"
    )

    assert teams.send(teams_hook(receiver), resolved).ok

    heading = card(json.loads(receiver.last.body))["body"][0]
    assert heading["color"] == "Good"
    assert heading["text"] == "[RESOLVED] Disk full on db-1"


def test_teams_card_does_not_render_links_planted_in_alert_text(
    receiver: HttpReceiver, teams: TeamsChannel
) -> None:
    hostile = Message(
        idempotency_key="msg-10",
        kind=MessageKind.PAGE,
        title="[Acknowledge](https://evil.example)",
        summary="see [here](https://evil.example)",
    )

    assert teams.send(teams_hook(receiver), hostile).ok

    content = card(json.loads(receiver.last.body))
    assert "](https://evil" not in json.dumps(content["body"], ensure_ascii=False)
    assert content["body"][0]["text"] == "[Acknowledge]\u200b(https://evil.example)"
    assert "actions" not in content


def test_teams_workflow_error_text_is_the_failure_reason(
    receiver: HttpReceiver, teams: TeamsChannel
) -> None:
    receiver.reply(
        400,
        json.dumps({"error": {"code": "InvalidRequestContent", "message": "bad card"}}),
        content_type="application/json",
    )

    result = teams.send(teams_hook(receiver), PAGE)

    assert result.permanent
    assert result.error == "400 bad card (code InvalidRequestContent)"
