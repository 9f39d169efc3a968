"""Stakeholder announcements in an alert storm, at the service level on both databases: how many
each channel hears of one by one, the digest that stands for the rest, and what is forgotten."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.conftest import T0
from tests.engine.conftest import LINKS
from vigil.alerts.events import Action, AlertEvent
from vigil.incidents import comms
from vigil.incidents.models import AnnouncementWindow
from vigil.integrations.ingest import ingest
from vigil.notify import service as notify
from vigil.notify.models import Notification
from vigil.notify.schemas import ChannelCreate
from vigil.services.models import Service


def channel(session: Session, name: str, kind: str, address: str, *severities: str) -> int:
    created = notify.create_channel(
        session, data=ChannelCreate(name=name, kind=kind, address=address), now=T0
    )
    for severity in severities:
        comms.create_stakeholder_rule(
            session, severity=severity, channel_id=created.id, events=["declared"], now=T0
        )
    return created.id


def open_incidents(
    session: Session,
    service: Service,
    names: list[str],
    *,
    config: comms.CommandConfig,
    severity: str = "critical",
    minutes: float = 0,
) -> None:
    """One commit of alerts, each opening an incident (the service does not group)."""
    events = [
        AlertEvent(
            action=Action.TRIGGER,
            dedup_key=name,
            integration_type="generic",
            summary=f"{name} is down",
            severity=severity,
        )
        for name in names
    ]
    ingest(
        session, service=service, events=events, now=T0 + timedelta(minutes=minutes), command=config
    )
    session.flush()


def posts(session: Session, channel_id: int) -> list[dict[str, Any]]:
    return [
        row.content
        for row in session.scalars(
            sa.select(Notification)
            .where(Notification.channel_id == channel_id)
            .order_by(Notification.id)
        )
    ]


def test_a_burst_of_zero_sends_every_alert_opened_incident_to_the_digest(
    session: Session, make_service: Any
) -> None:
    config = comms.CommandConfig(links=LINKS, announce_burst=0)
    execs = channel(session, "execs", "email", "execs@example.com", "SEV1")
    service = make_service(name="disks", grouping_mode="none")
    open_incidents(session, service, ["a", "b", "c"], config=config)
    assert posts(session, execs) == []

    assert (
        comms.post_announcement_digests(session, now=T0 + timedelta(minutes=10), config=config) == 1
    )
    [digest] = posts(session, execs)
    assert digest["title"] == "3 more incidents opened by alerts"
    assert digest["incident_number"] is None
    assert digest["event"] == "incidents.digest"
    assert digest["links"] == [{"label": "Open incidents", "url": "http://vigil.test/incidents"}]


def test_each_channel_counts_only_the_incidents_of_its_own_severities(
    session: Session, make_service: Any
) -> None:
    config = comms.CommandConfig(links=LINKS, announce_burst=2)
    execs = channel(session, "execs", "email", "execs@example.com", "SEV1")
    ops = channel(session, "ops", "slack", "https://hooks.slack.com/services/T/B/x", "SEV1", "SEV2")
    service = make_service(name="disks", grouping_mode="none")
    open_incidents(session, service, ["w1", "w2", "w3"], config=config, severity="error")
    open_incidents(session, service, ["c1"], config=config)
    assert [p["summary"] for p in posts(session, execs)] == ["c1 is down"]
    assert [p["summary"] for p in posts(session, ops)] == ["w1 is down", "w2 is down"]

    comms.post_announcement_digests(session, now=T0 + timedelta(minutes=10), config=config)
    assert len(posts(session, execs)) == 1  # nothing held for the execs: no digest
    digest = posts(session, ops)[-1]
    assert digest["title"] == "2 more incidents opened by alerts"
    assert digest["severity"] == "SEV1"
    assert "Alerts opened 4 SEV1/SEV2 incidents" in digest["body"]


def test_an_incident_counted_after_its_window_digest_gets_a_digest_of_its_own(
    session: Session, make_service: Any
) -> None:
    """A writer whose clock ran behind the worker's: its incident is still told, never lost."""
    config = comms.CommandConfig(links=LINKS, announce_burst=1)
    execs = channel(session, "execs", "email", "execs@example.com", "SEV1")
    service = make_service(name="disks", grouping_mode="none")
    open_incidents(session, service, ["a", "b"], config=config, minutes=1)
    comms.post_announcement_digests(session, now=T0 + timedelta(minutes=10), config=config)
    open_incidents(session, service, ["late"], config=config, minutes=9.9)
    assert (
        comms.post_announcement_digests(
            session, now=T0 + timedelta(minutes=10, seconds=5), config=config
        )
        == 1
    )
    assert (
        comms.post_announcement_digests(session, now=T0 + timedelta(minutes=11), config=config) == 0
    )
    titles = [p["title"] for p in posts(session, execs)]
    assert titles == [
        "a is down",
        "1 more incident opened by alerts",
        "1 more incident opened by alerts",
    ]


def test_windows_are_forgotten_a_day_after_they_end(session: Session, make_service: Any) -> None:
    config = comms.CommandConfig(links=LINKS, announce_burst=1)
    channel(session, "execs", "email", "execs@example.com", "SEV1")
    service = make_service(name="disks", grouping_mode="none")
    open_incidents(session, service, ["a", "b"], config=config)
    comms.post_announcement_digests(session, now=T0 + timedelta(minutes=10), config=config)
    assert session.scalar(sa.select(sa.func.count()).select_from(AnnouncementWindow)) == 1
    comms.post_announcement_digests(session, now=T0 + timedelta(days=1, minutes=11), config=config)
    assert session.scalar(sa.select(sa.func.count()).select_from(AnnouncementWindow)) == 0
