"""Server-Sent Events: a stream polls a cheap "what changed" stamp about once a second and
tells the page when it moves; the page then fetches the fragment it shows. Polling the
database keeps every `vigil serve` process stateless (no pub/sub to run)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

POLL_SECONDS = 1.0
HEARTBEAT_SECONDS = 15.0
# Streams end after a while and the browser reconnects: no connection lives forever.
LIFETIME_SECONDS = 600.0


def stream(request: Request, stamp: Callable[[], str], since: str) -> StreamingResponse:
    """An event stream sending `event: change` whenever `stamp()` differs from the last one."""

    async def events() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        started = last_beat = loop.time()
        last = since
        yield "retry: 2000\n\n"
        while loop.time() - started < LIFETIME_SECONDS:
            if await request.is_disconnected():
                return
            current = await run_in_threadpool(stamp)
            if current != last:
                last = current
                yield f"event: change\ndata: {current}\n\n"
            elif loop.time() - last_beat > HEARTBEAT_SECONDS:
                last_beat = loop.time()
                yield ": still here\n\n"
            await asyncio.sleep(POLL_SECONDS)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
