"""The inbound integrations' POSTs, answered straight from the ASGI server.

Monitoring tools send alerts far more often than people use the API: Prometheus posts one alert
per request. Through Starlette's middleware stack (sessions, exception handling, routing among
every route of the app) and FastAPI's request handling, a request cost about 0.5 ms of CPU
before Vigil's own work began, several times what the ingest itself costs. `VigilApp` hands
these POSTs to the same handlers the FastAPI routes call (`vigil.api.integrations.accept_*`),
with the same limits, answers and error bodies; everything else, and the OpenAPI description of
these routes, stays with FastAPI.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import Histogram

from vigil.api import integrations
from vigil.api.errors import database_trouble
from vigil.errors import VigilError

log = logging.getLogger("vigil.api")

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Handler = Callable[[Any, integrations.Body, str], Awaitable[Response]]


# What a sender waited, from the request's arrival (its head read, before its turn at the door,
# `InboundBudget`) to its answer sent: an ingest SLO, and where a stalled writer shows first. A
# duration, so it reads the monotonic clock rather than the injected `Clock`.
REQUEST_SECONDS = Histogram(
    "vigil_ingest_request_seconds",
    "Time from an inbound alert request's arrival to its answer, by integration and HTTP status",
    ["integration", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class ClientGone(Exception):
    """The sender hung up before its body arrived: there is no one left to answer."""


class InboundBudget:
    """The bytes of inbound bodies one HTTP process holds at once, from reading each to its answer.

    Unbounded, a flood of large batches was read, parsed and queued for the ingest writer all at
    once: 256 senders posting 100 alerts each took the HTTP process from 111 to 207 MB and the
    writer's from 114 to 181 MB. A request that would take the process over its budget waits
    before its body is read, first come first served; uvicorn stops reading a connection once
    64 KiB of its body wait, so the sender's own TCP window holds the rest. The writer commits at
    most 5,000 alerts at a time: a commit or two of them waiting keeps it as busy as many more.
    One request always gets through, however large, so nothing waits forever.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._waiting: deque[tuple[asyncio.Future[None], int]] = deque()

    async def take(self, size: int) -> int:
        """Wait until `size` bytes (at most the whole budget) fit; returns what was taken."""
        size = min(size, self.limit)
        if size == 0:  # a body refused before it is read waits for nobody
            return 0
        if not self._waiting and self._fits(size):
            self.held += size
            return size
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (waiter, size)
        self._waiting.append(entry)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.cancelled():
                self._waiting.remove(entry)
                self._grant()  # the request behind it may fit now
            else:  # granted, then cancelled before it could run
                self.give_back(size)
            raise
        return size

    def give_back(self, size: int) -> None:
        self.held -= size
        self._grant()

    def _fits(self, size: int) -> bool:
        return self.held == 0 or self.held + size <= self.limit

    def _grant(self) -> None:
        """Let waiting requests in, in their order, while the first of them fits."""
        while self._waiting and self._fits(self._waiting[0][1]):
            waiter, size = self._waiting.popleft()
            self.held += size
            waiter.set_result(None)


def body_size(declared: str | None, limit: int) -> int:
    """What a request's body will hold, for its `InboundBudget`: its declared length, or the
    body limit when it declared none (chunked); 0 for a body refused before it is read."""
    if declared is None or not declared.isdigit():
        return limit
    size = int(declared)
    return 0 if size > limit else size


def route(path: str) -> tuple[Handler, str] | None:
    """The handler of an inbound POST and the key in its path, or None for any other path."""
    parts = path.split("/")
    # ["", "integrations", kind, key] or ["", "integrations", "prometheus", key, "api", "v2", …]
    if len(parts) == 4 and parts[1] == "integrations" and parts[3]:
        kind, key = parts[2], parts[3]
        if kind == "alertmanager":
            return _alertmanager, key
        if kind == "grafana":
            return _grafana, key
        if kind == "generic":
            return integrations.accept_generic, key
        return None
    if parts == ["", "v2", "enqueue"]:
        return _pagerduty, ""
    if (
        len(parts) == 7
        and parts[1] == "integrations"
        and parts[2] == "prometheus"
        and parts[3]
        and parts[4:] == ["api", "v2", "alerts"]
    ):
        return integrations.accept_prometheus, parts[3]
    return None


async def _alertmanager(app: Any, body: integrations.Body, key: str) -> Response:
    return await integrations.accept_webhook(app, body, key, "alertmanager")


async def _grafana(app: Any, body: integrations.Body, key: str) -> Response:
    return await integrations.accept_webhook(app, body, key, "grafana")


async def _pagerduty(app: Any, body: integrations.Body, _key: str) -> Response:
    return await integrations.accept_pagerduty(app, body)


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def serve(
    app: FastAPI,
    handler: Handler,
    key: str,
    scope: dict[str, Any],
    receive: Receive,
    send: Send,
) -> None:
    """Read, handle and answer one inbound POST, mapping errors as the app's handlers do."""
    arrived = time.perf_counter()
    content_type = ""
    declared = None
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value.decode("latin-1")
        elif name == b"content-length":
            declared = value.decode("latin-1")
    limit = app.state.settings.max_body_bytes
    budget: InboundBudget = app.state.inbound_budget
    taken = await budget.take(body_size(declared, limit))
    body = integrations.read_limited(
        _chunks(receive), content_type=content_type, declared=declared, limit=limit
    )
    try:
        response = await handler(app, body, key)
    except ClientGone:
        return
    except VigilError as exc:
        headers = {"Retry-After": "5"} if exc.status_code == 503 else None
        response = JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=headers)
    except Exception as exc:
        answer = database_trouble(exc, scope["path"])
        if answer is None:
            log.exception("inbound %s failed", scope["path"])
            answer = JSONResponse({"error": "internal error"}, status_code=500)
        response = answer
    finally:
        budget.give_back(taken)
    # What `Response.__call__` sends, without its checks for background tasks and file bodies.
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": response.raw_headers,
        }
    )
    await send({"type": "http.response.body", "body": response.body})
    _observed(handler, response.status_code).observe(time.perf_counter() - arrived)


_INTEGRATIONS: dict[Handler, str] = {
    _alertmanager: "alertmanager",
    _grafana: "grafana",
    integrations.accept_generic: "generic",
    _pagerduty: "pagerduty",
    integrations.accept_prometheus: "prometheus",
}
# The histogram's child per handler and status: `labels()` costs more than the observation.
_CHILDREN: dict[tuple[Handler, int], Any] = {}


def _observed(handler: Handler, status: int) -> Any:
    child = _CHILDREN.get((handler, status))
    if child is None:
        integration = _INTEGRATIONS.get(handler, "other")
        child = _CHILDREN[handler, status] = REQUEST_SECONDS.labels(integration, str(status))
    return child
