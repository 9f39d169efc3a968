"""Stakeholder emails received by a real SMTP server (aiosmtpd on 127.0.0.1): the SEV1 list hears
about the declaration, each stakeholder update, a severity change and the resolution, each with
the war-room link; followers get the updates too. The worker uses the real channels."""

from __future__ import annotations

import email
import email.policy
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session as DbSession

from tests.engine.conftest import add_email
from vigil.accounts.models import Role
from vigil.api.app import build_engine, create_app
from vigil.clock import FakeClock
from vigil.config import Settings
from vigil.engine.runner import Engine
from vigil.storage.db import Database

WAR_ROOM = "https://meet.example.com/inc-{number}"


class Inbox:
    """aiosmtpd handler that keeps every accepted message, parsed, with its recipients."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append((list(envelope.rcpt_tos), parsed))
        return "250 2.0.0 Ok: queued"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for rcpts, message in self.received if address in rcpts]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    content: str = part.get_content()  # type: ignore[attr-defined]
    return content


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@dataclass
class Setup:
    client: TestClient
    worker: Engine
    inbox: Inbox


@pytest.fixture
def setup(
    db: Database, clock: FakeClock, tmp_path: Path, inbox: tuple[Inbox, int]
) -> Iterator[Setup]:
    """The app with a war-room template and a worker sending through the SMTP server."""
    handler, port = inbox
    settings = Settings(
        data_dir=tmp_path / "data",
        base_url="http://vigil.test",
        secret_key="test",
        war_room_template=WAR_ROOM,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        smtp_from="vigil@example.com",
    )
    app = create_app(settings, db=db, clock=clock)
    worker = build_engine(settings, db, clock, app.state.command)
    try:
        with TestClient(app) as client:
            yield Setup(client, worker, handler)
    finally:
        worker.close()


def run_worker(setup: Setup) -> None:
    result = setup.worker.run_cycle()
    assert not result.failed, result.failed


def stakeholder_list(
    setup: Setup, auth: dict[str, str], severity: str = "SEV1", **rule: Any
) -> None:
    """An `execs` email list that hears about `severity` incidents."""
    channel = setup.client.post(
        "/api/v1/channels",
        headers=auth,
        json={"name": "execs", "kind": "email", "address": "execs@example.com"},
    )
    assert channel.status_code == 201, channel.text
    created = setup.client.post(
        "/api/v1/stakeholder-rules",
        headers=auth,
        json={"severity": severity, "channel_id": channel.json()["id"], **rule},
    )
    assert created.status_code == 201, created.text


def declare(setup: Setup, auth: dict[str, str], severity: str = "SEV1") -> int:
    response = setup.client.post(
        "/api/v1/incidents",
        headers=auth,
        json={"title": "Card payments failing", "description": "EU only", "severity": severity},
    )
    assert response.status_code == 201, response.text
    number: int = response.json()["number"]
    return number


def post(setup: Setup, auth: dict[str, str], path: str, body: dict[str, Any]) -> None:
    response = setup.client.post(path, headers=auth, json=body)
    assert response.status_code in (200, 201), response.text


def test_sev1_stakeholders_get_the_declaration_each_update_and_the_resolution_by_email(
    setup: Setup, auth: dict[str, str]
) -> None:
    stakeholder_list(setup, auth)
    number = declare(setup, auth)
    run_worker(setup)
    base = f"/api/v1/incidents/{number}"
    post(setup, auth, f"{base}/updates", {"message": "Fix deploying", "audience": "stakeholders"})
    run_worker(setup)
    post(setup, auth, f"{base}/updates", {"message": "Responders only", "audience": "internal"})
    run_worker(setup)
    post(setup, auth, f"{base}/status", {"status": "resolved", "message": "Payments are back"})
    run_worker(setup)

    mails = setup.inbox.to("execs@example.com")
    assert len(mails) == 3
    declared, update, resolved = (text_of(m) for m in mails)
    assert "SEV1 declared: Card payments failing" in declared
    assert "EU only" in declared
    assert "Fix deploying" in update
    assert "Resolved: Card payments failing" in resolved
    assert "Payments are back" in resolved
    assert all("Responders only" not in text_of(m) for m in mails)
    war_room = f"War room: https://meet.example.com/inc-{number}"
    for mail in mails:
        assert f"[SEV1] #{number} Card payments failing" in mail["Subject"]
        assert war_room in text_of(mail)
        assert f"http://vigil.test/incidents/{number}" in text_of(mail)
        assert mail["From"] == "vigil@example.com"
    timeline = setup.client.get(base, headers=auth).json()["timeline"]
    told = [e["data"]["told"] for e in timeline if e["kind"] == "status_update"]
    assert told == [["execs"], []]


def test_a_severity_raised_to_sev1_tells_the_sev1_list(setup: Setup, auth: dict[str, str]) -> None:
    stakeholder_list(setup, auth)
    number = declare(setup, auth, severity="SEV2")
    run_worker(setup)
    assert setup.inbox.received == []
    post(
        setup,
        auth,
        f"/api/v1/incidents/{number}/severity",
        {"severity": "SEV1", "reason": "all regions now"},
    )
    run_worker(setup)
    [mail] = setup.inbox.to("execs@example.com")
    assert "Severity changed from SEV2 to SEV1 because all regions now" in text_of(mail)


def test_a_rule_only_sends_the_moments_it_names(setup: Setup, auth: dict[str, str]) -> None:
    stakeholder_list(setup, auth, events=["resolved"])
    number = declare(setup, auth)
    post(
        setup,
        auth,
        f"/api/v1/incidents/{number}/updates",
        {"message": "Fix deploying", "audience": "stakeholders"},
    )
    run_worker(setup)
    assert setup.inbox.received == []
    post(setup, auth, f"/api/v1/incidents/{number}/status", {"status": "resolved"})
    run_worker(setup)
    [mail] = setup.inbox.to("execs@example.com")
    assert "Resolved" in text_of(mail)


def test_a_follower_gets_the_stakeholder_updates_by_email(
    setup: Setup,
    auth: dict[str, str],
    session: DbSession,
    clock: FakeClock,
    make_user: Any,
    make_token: Any,
) -> None:
    fan = make_user(Role.OBSERVER, name="Finn", email="finn@example.com")
    add_email(session, fan, clock)
    number = declare(setup, auth, severity="SEV3")
    follow = setup.client.post(
        f"/api/v1/incidents/{number}/follow",
        headers={"Authorization": f"Bearer {make_token(fan)}"},
    )
    assert follow.status_code == 204, follow.text
    post(
        setup,
        auth,
        f"/api/v1/incidents/{number}/updates",
        {"message": "Workaround: pay by invoice", "audience": "stakeholders"},
    )
    run_worker(setup)
    [mail] = setup.inbox.to("finn@example.com")
    assert "Workaround: pay by invoice" in text_of(mail)
    assert f"https://meet.example.com/inc-{number}" in text_of(mail)


def test_an_update_posted_just_before_resolving_still_reaches_stakeholders(
    setup: Setup, auth: dict[str, str]
) -> None:
    stakeholder_list(setup, auth)
    number = declare(setup, auth)
    base = f"/api/v1/incidents/{number}"
    post(setup, auth, f"{base}/updates", {"message": "Fixed", "audience": "stakeholders"})
    post(setup, auth, f"{base}/status", {"status": "resolved"})
    run_worker(setup)
    assert len(setup.inbox.to("execs@example.com")) == 3


# ---------------------------------------------------------------------------------------------
# Alert storms: a channel hears of the first few alert-opened incidents of each window, and of
# the rest in one digest when the window ends (T0 is 09:00, so the window is 09:00–09:10).


def titles(mails: list[EmailMessage]) -> set[str]:
    """The incident titles of announcements ("[SEV1] #12 Disk full on db-3")."""
    found = {re.sub(r"^\[SEV1\] #\d+ ", "", str(mail["Subject"])) for mail in mails}
    assert len(found) == len(mails)
    return found


def storm(setup: Setup, key: str, numbers: range) -> None:
    """An alert per number, each opening an incident of its own (the service does not group)."""
    for n in numbers:
        response = setup.client.post(
            f"/integrations/generic/{key}",
            json={"summary": f"Disk full on db-{n}", "severity": "critical", "dedup_key": f"d{n}"},
        )
        assert response.status_code == 202, response.text


@pytest.fixture
def ungrouped_key(make_service: Any, session: DbSession) -> str:
    from vigil.services import service as services

    service = make_service(name="storage", grouping_mode="none")
    return str(services.list_integration_keys(session, service_id=service.id)[0].key)


def test_an_alert_storm_tells_stakeholders_of_five_incidents_and_sums_up_the_rest_in_one_digest(
    setup: Setup, auth: dict[str, str], ungrouped_key: str, clock: FakeClock
) -> None:
    stakeholder_list(setup, auth)
    storm(setup, ungrouped_key, range(1, 13))
    run_worker(setup)
    one_by_one = setup.inbox.to("execs@example.com")
    assert titles(one_by_one) == {f"Disk full on db-{n}" for n in range(1, 6)}
    number = declare(setup, auth)  # a person declaring is always heard, storm or not
    run_worker(setup)
    assert setup.inbox.to("execs@example.com")[-1]["Subject"].startswith(f"[SEV1] #{number} ")

    clock.advance(minutes=10)  # the window has ended
    run_worker(setup)
    mails = setup.inbox.to("execs@example.com")
    assert len(mails) == 7
    digest = mails[-1]
    assert digest["Subject"] == "[SEV1] 7 more incidents opened by alerts"
    text = text_of(digest)
    assert "Alerts opened 12 SEV1 incidents between 2026-03-02 09:00–09:10 UTC" in text
    assert "heard of the first 5; this digest stands for the other 7" in text
    assert re.search(r"^#\d+ \[SEV1\] Disk full on db-12\r?$", text, re.MULTILINE)
    assert "http://vigil.test/incidents" in text

    clock.advance(minutes=1)
    run_worker(setup)
    assert len(setup.inbox.to("execs@example.com")) == 7  # said once


def test_each_window_of_a_storm_starts_with_five_heard_and_ends_with_its_own_digest(
    setup: Setup, auth: dict[str, str], ungrouped_key: str, clock: FakeClock
) -> None:
    stakeholder_list(setup, auth)
    storm(setup, ungrouped_key, range(1, 8))  # 5 heard, 2 held
    run_worker(setup)
    clock.advance(minutes=10)
    run_worker(setup)  # the 09:00 digest: 2 more
    storm(setup, ungrouped_key, range(8, 15))  # 09:10: a fresh 5 heard, 2 held
    run_worker(setup)
    mails = setup.inbox.to("execs@example.com")
    assert mails[5]["Subject"] == "[SEV1] 2 more incidents opened by alerts"
    assert titles(mails[6:]) == {f"Disk full on db-{n}" for n in range(8, 13)}

    clock.advance(minutes=10)
    run_worker(setup)
    assert setup.inbox.to("execs@example.com")[-1]["Subject"] == (
        "[SEV1] 2 more incidents opened by alerts"
    )
    assert len(setup.inbox.to("execs@example.com")) == 12
