"""The console channel: prints a message instead of sending it, so a laptop demo shows its pages
without a mail server. Used for email when no SMTP host is configured."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from vigil.notify.channels.base import Destination, Message, SendResult

log = logging.getLogger("vigil.notify.console")


class ConsoleChannel:
    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def send(self, destination: Destination, message: Message) -> SendResult:
        stream = self._stream or sys.stdout
        lines = [
            "",
            f"┌─ Vigil {destination.kind} to {destination.address}",
            f"│ {message.subject}",
        ]
        if message.summary and message.summary != message.title:
            lines.append(f"│ {message.summary}")
        lines += [f"│ {link.label}: {link.url}" for link in message.links]
        lines.append("└─")
        print("\n".join(lines), file=stream, flush=True)
        return SendResult.sent(provider_id=f"console:{message.idempotency_key}")
