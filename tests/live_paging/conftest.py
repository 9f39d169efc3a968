"""Live paging fixtures: a push receiver and an SMTP server on 127.0.0.1 that real `vigil`
processes page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.live_paging.harness import PushReceiver


@pytest.fixture(scope="module")
def receiver() -> Iterator[PushReceiver]:
    """A push service on 127.0.0.1 recording every request's Idempotency-Key."""
    push = PushReceiver()
    push.start()
    yield push
    push.stop()
