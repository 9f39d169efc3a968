"""A sender's claim on a batch must not lapse while it is still sending that batch.

A worker claims up to `send_batch` (200) messages for `CLAIM_FOR` (60 s) and sends them eight at a
time; to a provider that answers slowly (the HTTP timeout is 10 s), a batch outlives its claim.
Another worker then claims the same messages while the first is still sending them, and both
send: every one of those people is paged twice. Two in-process engines on PostgreSQL share a
FakeClock, which stands in for the minute a slow provider takes, and a real receiver counts.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from tests.live_paging.harness import PG_URL, PushReceiver, installation, poll
from vigil.clock import FakeClock
from vigil.engine.runner import Engine, EngineConfig
from vigil.incidents.comms import CommandConfig
from vigil.notify.channels import ChannelKind, ChannelSet, WebhookChannel
from vigil.notify.models import Notification
from vigil.notify.service import CLAIM_FOR, LinkConfig
from vigil.storage.db import Database

pytestmark = pytest.mark.skipif(
    not PG_URL, reason="PostgreSQL skipped: VIGIL_TEST_DATABASE_URL is not set"
)

MESSAGES = 32
SEND_THREADS = 8


def engine(db: Database, clock: FakeClock, holder: str) -> Engine:
    """A worker's engine that only sends, through the real webhook adapter."""
    channels = ChannelSet({ChannelKind.WEBHOOK: WebhookChannel(clock=clock)})
    config = EngineConfig(
        command=CommandConfig(links=LinkConfig("http://127.0.0.1", "secret")),
        channels=channels,
        send_threads=SEND_THREADS,
    )
    return Engine(db, clock, config, modules=[], holder=holder)


def test_a_batch_that_outlives_its_claim_is_not_sent_again_by_another_worker(
    receiver: PushReceiver, tmp_path: Path
) -> None:
    with installation("postgresql", tmp_path) as install:
        db = Database.from_url(install.database_url, pool_size=2 * SEND_THREADS + 2)
        clock = FakeClock()
        with db.unit_of_work() as session:
            for i in range(MESSAGES):
                session.add(
                    Notification(
                        idempotency_key=f"lapse-{i}",
                        kind="test",
                        channel_kind="webhook",
                        address=f"{receiver.url}/lapse",
                        content={"title": f"message {i}"},
                        send_at=clock.now(),
                        created_at=clock.now(),
                    )
                )
        first, second = engine(db, clock, "first"), engine(db, clock, "second")
        receiver.delay = 0.2
        try:
            sending = threading.Thread(target=first.send_due)
            sending.start()
            poll(lambda: receiver.at("/lapse") or None, within=30, what="the first send")
            clock.advance(CLAIM_FOR + timedelta(seconds=1))  # the provider took its time
            second.send_due()
            sending.join()
        finally:
            receiver.delay = 0.0
            first.close()
            second.close()
            db.dispose()

    counts = Counter(d.idempotency_key for d in receiver.at("/lapse"))
    assert len(counts) == MESSAGES
    # At most what was in flight when the claim lapsed may go out twice (at-least-once).
    assert sum(1 for n in counts.values() if n > 1) <= SEND_THREADS
