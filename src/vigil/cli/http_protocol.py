"""uvicorn's HTTP protocol, with each response leaving in one write.

uvicorn writes a response's head when the app starts it and its body when the app sends it:
two `send` system calls, two TCP segments. On loopback and on virtual machines the sender's
`send` runs the receiver's whole network path and wakes it, so a small response (an ingest
acknowledgement) cost the HTTP process two of those: with `wrk` sending single alerts, the head's
write alone was about a fifth of the HTTP process's samples. Here a connection's writes of one
turn of the event loop are joined and sent once at the end of that turn (as
`RemoteIngestWriter` does for the writer's socket); what is sent, and its order, is unchanged.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport(asyncio.Transport):
    """A transport that holds the writes of one event loop turn and sends them together.

    Everything but writing goes to the real transport; closing sends what is held first, so
    nothing written before a close is lost, and aborting drops it, as the real one would.
    """

    def __init__(self, transport: Any, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Send what this turn wrote, in one write."""
        if not self._held:
            return
        held, self._held = self._held, []
        if self._transport.is_closing():
            return
        self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._held))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held.clear()
        self._transport.abort()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through a `CoalescingTransport`."""

    def connection_made(self, transport: Any) -> None:
        # uvloop's transports are not `asyncio.Transport` subclasses: anything with their
        # methods will do.
        super().connection_made(CoalescingTransport(transport, self.loop))
