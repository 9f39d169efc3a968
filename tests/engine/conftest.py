"""An engine on the test database with a recording channel, and a small paging setup."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from vigil.accounts.models import Role, User
from vigil.clock import FakeClock
from vigil.engine.runner import Engine, EngineConfig
from vigil.escalation import service as escalation
from vigil.escalation.schemas import PolicyCreate
from vigil.incidents.comms import CommandConfig
from vigil.notify import service as notify
from vigil.notify.channels import ChannelKind, ChannelSet, Destination, Message, SendResult
from vigil.notify.schemas import ContactMethodCreate
from vigil.notify.service import LinkConfig
from vigil.services import service as services
from vigil.services.models import Service
from vigil.services.schemas import ServiceUpdate
from vigil.storage.db import Database

LINKS = LinkConfig(base_url="http://vigil.test", secret="test")


class Recorder:
    """A fake channel for engine tests: records what it would send, and can be told to fail."""

    def __init__(self) -> None:
        self.sent: list[tuple[Destination, Message]] = []
        self.failures: list[SendResult] = []
        self._lock = threading.Lock()

    def send(self, destination: Destination, message: Message) -> SendResult:
        with self._lock:
            if self.failures:
                return self.failures.pop(0)
            self.sent.append((destination, message))
            return SendResult.sent(provider_id=f"p{len(self.sent)}")

    def addresses(self) -> list[str]:
        return [d.address for d, _m in self.sent]

    def clear(self) -> None:
        self.sent.clear()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def worker(db: Database, clock: FakeClock, recorder: Recorder) -> Engine:
    channels = ChannelSet(dict.fromkeys(ChannelKind, recorder))
    config = EngineConfig(
        command=CommandConfig(links=LINKS), channels=channels, send_threads=1, max_attempts=3
    )
    return Engine(db, clock, config, holder="test-worker")


def add_email(session: Session, user: User, clock: FakeClock, *, verified: bool = True) -> int:
    method = notify.add_contact_method(
        session,
        user_id=user.id,
        data=ContactMethodCreate(kind="email", address=user.email),
        now=clock.now(),
        links=LINKS,
    )
    if verified:
        notify.mark_verified(session, method_id=method.id, now=clock.now())
    # The verification message is not what these tests are about.
    session.execute(
        notify.Notification.__table__.delete().where(notify.Notification.kind == "verify")
    )
    session.commit()
    return method.id


@dataclass
class Paging:
    alice: User
    bob: User
    carol: User
    service: Service
    key: str
    policy_id: int


@pytest.fixture
def paging(session: Session, clock: FakeClock, make_user: Any, make_service: Any) -> Paging:
    alice = make_user(Role.RESPONDER, name="Alice", email="alice@example.com")
    bob = make_user(Role.RESPONDER, name="Bob", email="bob@example.com")
    carol = make_user(Role.ADMIN, name="Carol", email="carol@example.com")
    for user in (alice, bob, carol):
        add_email(session, user, clock)
    policy = escalation.create_policy(
        session,
        data=PolicyCreate.model_validate(
            {
                "name": "Default",
                "levels": [
                    {"targets": [{"type": "user", "id": alice.id}], "delay_minutes": 5},
                    {"targets": [{"type": "user", "id": bob.id}], "delay_minutes": 5},
                ],
                "repeat": 0,
            }
        ),
        now=clock.now(),
    )
    service = make_service(name="payments", grouping_mode="none")
    services.update_service(
        session,
        service_id=service.id,
        data=ServiceUpdate(escalation_policy_id=policy.id),
        now=clock.now(),
    )
    session.commit()
    key = services.list_integration_keys(session, service_id=service.id)[0].key
    return Paging(alice, bob, carol, service, key, policy.id)


def trigger(client: TestClient, key: str, *, severity: str = "error", dedup: str = "d1") -> int:
    response = client.post(
        f"/integrations/generic/{key}",
        json={"summary": "Checkout down", "severity": severity, "dedup_key": dedup},
    )
    assert response.status_code == 202, response.text
    opened: list[int] = response.json()["incidents_opened"]
    return opened[0] if opened else 0
