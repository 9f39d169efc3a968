"""HTTP plumbing the chat, webhook and Twilio adapters share: one client, one way to classify
failures.

The rule follows what providers document and what Alertmanager does: 2xx is delivered; 408, 429 and
5xx, timeouts and network errors are transient (retry later); any other status is permanent,
reported with the provider's own error text ("400 invalid_payload").
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Self

import httpx

from vigil.notify.channels.base import Destination, Message, SendResult

ERROR_TEXT_LIMIT = 300
TRANSIENT_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class HttpOptions:
    """Client settings every HTTP adapter takes; tests shorten the timeout, deployments may add a
    proxy."""

    timeout: float = 10.0
    user_agent: str = "Vigil"
    # Honour HTTP(S)_PROXY / NO_PROXY from the environment, as most outbound clients behind a proxy
    # need.
    trust_env: bool = True


def make_client(
    options: HttpOptions | None = None, *, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """A client that never follows redirects: a webhook URL that redirects is misconfigured, not
    delivered."""
    options = options or HttpOptions()
    return httpx.Client(
        timeout=httpx.Timeout(options.timeout),
        follow_redirects=False,
        trust_env=options.trust_env,
        transport=transport,
        headers={"User-Agent": options.user_agent},
    )


def one_line(text: str, limit: int = ERROR_TEXT_LIMIT) -> str:
    """Provider text squeezed onto one short line, fit for a timeline entry."""
    squeezed = " ".join(text.split())
    return squeezed if len(squeezed) <= limit else squeezed[: limit - 1] + "…"


def plain_error_text(response: httpx.Response) -> str:
    """The response body as the provider wrote it (Slack and Teams answer errors in plain text)."""
    return one_line(response.text)


def structured_error_text(response: httpx.Response) -> str:
    """Error wording from a JSON error body (`{"message": ..}`, `{"error": {"code", "message"}}`,
    Twilio's `{"code", "message"}`), falling back to the plain body."""
    try:
        data = response.json()
    except ValueError:
        return plain_error_text(response)
    if isinstance(data, dict):
        error = data.get("error")
        inner = error if isinstance(error, dict) else data
        message = inner.get("message") or (error if isinstance(error, str) else None)
        code = inner.get("code")
        if isinstance(message, str) and message:
            return one_line(f"{message} (code {code})" if code not in (None, "") else message)
    return plain_error_text(response)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After in seconds when given as a number; the HTTP-date form is rare from these
    providers."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def classify_response(
    response: httpx.Response,
    *,
    error_text: Callable[[httpx.Response], str] = plain_error_text,
    provider_id: Callable[[httpx.Response], str | None] | None = None,
) -> SendResult:
    """Turn a provider's answer into a SendResult; `error_text` extracts its own error wording."""
    status = response.status_code
    if 200 <= status < 300:
        return SendResult.sent(
            provider_id=provider_id(response) if provider_id else None, status_code=status
        )
    detail = error_text(response) or "from provider"
    error = f"{status} {detail}"
    if status >= 500 or status in TRANSIENT_STATUSES:
        return SendResult.transient(
            error, status_code=status, retry_after=retry_after_seconds(response)
        )
    return SendResult.failed(error, status_code=status)


def post(
    client: httpx.Client,
    url: str,
    *,
    content: bytes,
    content_type: str,
    headers: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    error_text: Callable[[httpx.Response], str] = plain_error_text,
    provider_id: Callable[[httpx.Response], str | None] | None = None,
) -> SendResult:
    """POST once and classify the outcome; network trouble becomes a transient result, never an
    exception."""
    if not url.lower().startswith(("https://", "http://")):
        return SendResult.failed(f"not an http(s) URL: {one_line(url, 80)}")
    all_headers = {"Content-Type": content_type, **(headers or {})}
    try:
        response = client.post(
            url,
            content=content,
            headers=all_headers,
            auth=httpx.BasicAuth(*auth) if auth else httpx.USE_CLIENT_DEFAULT,
        )
    except httpx.TimeoutException as exc:
        return SendResult.transient(f"timed out: {type(exc).__name__}")
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        return SendResult.failed(f"invalid URL: {one_line(str(exc), 120)}")
    except httpx.ConnectError as exc:
        return SendResult.transient(f"could not connect: {one_line(str(exc), 120)}")
    except httpx.TransportError as exc:
        return SendResult.transient(f"{type(exc).__name__}: {one_line(str(exc), 120)}")
    return classify_response(response, error_text=error_text, provider_id=provider_id)


class HttpChannel(ABC):
    """Base for HTTP adapters: owns a client unless one is shared in, and closes only what it
    owns."""

    def __init__(
        self, *, options: HttpOptions | None = None, client: httpx.Client | None = None
    ) -> None:
        self._owns_client = client is None
        self.client = client if client is not None else make_client(options)

    @abstractmethod
    def send(self, destination: Destination, message: Message) -> SendResult: ...

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
