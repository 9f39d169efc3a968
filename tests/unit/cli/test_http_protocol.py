"""A response's writes leave the HTTP process in one write per turn of the event loop."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route

from vigil.cli.http_protocol import CoalescingHttpToolsProtocol, CoalescingTransport


class RecordingTransport:
    """Just enough of a transport to see what reaches it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000)}.get(name, default)


async def _one_turn() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def test_writes_of_one_turn_leave_together_and_in_order() -> None:
    asyncio.run(_writes_of_one_turn())


async def _writes_of_one_turn() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 202 Accepted\r\n\r\n")
    transport.write(b"")
    transport.write(memoryview(b'{"status":"success"}'))
    assert real.writes == []
    assert transport.get_write_buffer_size() == len(b"HTTP/1.1 202 Accepted\r\n\r\n") + 20
    await _one_turn()
    assert real.writes == [b'HTTP/1.1 202 Accepted\r\n\r\n{"status":"success"}']
    transport.write(b"next")
    await _one_turn()
    assert real.writes[1:] == [b"next"]


def test_closing_sends_what_was_written_first_and_aborting_drops_it() -> None:
    asyncio.run(_closing_and_aborting())


async def _closing_and_aborting() -> None:
    loop = asyncio.get_running_loop()
    closed, aborted = RecordingTransport(), RecordingTransport()
    transport = CoalescingTransport(closed, loop)
    transport.write(b"last words")
    transport.close()
    assert closed.writes == [b"last words"]
    assert closed.closed
    transport = CoalescingTransport(aborted, loop)
    transport.write(b"never sent")
    transport.abort()
    await _one_turn()
    assert aborted.writes == []
    assert aborted.aborted


async def _hello(_request: Any) -> PlainTextResponse:
    return PlainTextResponse("hello", status_code=202)


async def _ticks(_request: Any) -> StreamingResponse:
    async def chunks() -> Any:
        for n in range(3):
            yield f"tick {n}\n"
            await asyncio.sleep(0.01)

    return StreamingResponse(chunks(), media_type="text/plain")


def test_uvicorn_serves_plain_and_streamed_responses_through_it() -> None:
    asyncio.run(_serve_and_ask())


async def _serve_and_ask() -> None:
    app = Starlette(routes=[Route("/", _hello, methods=["POST"]), Route("/ticks", _ticks)])
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, http=CoalescingHttpToolsProtocol, log_level="warning"
    )
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve())
    while not served.started:
        await asyncio.sleep(0.01)
    port = served.servers[0].sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(3):  # one kept-alive connection, several requests
                answer = await client.post("/", content=b"{}")
                assert (answer.status_code, answer.text) == (202, "hello")
            streamed = await client.get("/ticks")
            assert streamed.text == "tick 0\ntick 1\ntick 2\n"
    finally:
        served.should_exit = True
        await task
