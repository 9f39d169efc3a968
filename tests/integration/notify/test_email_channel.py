"""Email to a real SMTP server (aiosmtpd on 127.0.0.1): what recipients see, how refusals map."""

from __future__ import annotations

import email
import email.policy
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.integration.notify.conftest import MailHandler, SmtpServer, free_port
from vigil.clock import FakeClock
from vigil.notify.channels import (
    ChannelKind,
    Destination,
    EmailChannel,
    Link,
    Message,
    MessageKind,
    SmtpConfig,
    SmtpSecurity,
)

ALICE = Destination(ChannelKind.EMAIL, "alice@example.com")
PAGE = Message(
    idempotency_key="msg-42-1",
    kind=MessageKind.PAGE,
    title="Disk full on db-1",
    summary="/ is 97% full",
    severity="SEV1",
    incident_number=42,
    service_name="Database",
    body="Filesystem / on db-1 has 3% space left.",
    links=(
        Link("Acknowledge", "https://vigil.example/l/ack?sig=abc&exp=1"),
        Link("Resolve", "https://vigil.example/l/resolve?sig=def"),
        Link("Open", "https://vigil.example/incidents/42"),
    ),
)


def channel_on(port: int, **overrides: Any) -> EmailChannel:
    settings: dict[str, Any] = {"security": SmtpSecurity.NONE, "timeout": 5, **overrides}
    config = SmtpConfig(host="127.0.0.1", port=port, from_address="vigil@example.com", **settings)
    return EmailChannel(config, clock=FakeClock())


def received(handler: MailHandler) -> EmailMessage:
    [envelope] = handler.envelopes
    assert isinstance(envelope.content, bytes)
    parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def parts(mail: EmailMessage) -> tuple[str, str]:
    plain = mail.get_body(("plain",))
    rich = mail.get_body(("html",))
    assert plain is not None and rich is not None
    return plain.get_content(), rich.get_content()


def test_page_email_arrives_with_severity_in_subject_both_parts_and_links(
    smtp_server: SmtpServer,
) -> None:
    result = channel_on(smtp_server.port).send(ALICE, PAGE)

    assert result.ok, result.error
    mail = received(smtp_server.handler)
    assert mail["Subject"] == "[SEV1] #42 Disk full on db-1"
    assert mail["To"] == "alice@example.com"
    assert mail["From"] == "vigil@example.com"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert smtp_server.handler.envelopes[0].rcpt_tos == ["alice@example.com"]
    plain, rich = parts(mail)
    assert "/ is 97% full" in plain and "/ is 97% full" in rich
    assert "Service: Database" in plain
    assert "Acknowledge: https://vigil.example/l/ack?sig=abc&exp=1" in plain
    assert '<a href="https://vigil.example/l/ack?sig=abc&amp;exp=1">Acknowledge</a>' in rich
    assert '<a href="https://vigil.example/incidents/42">Open</a>' in rich


def test_message_id_comes_from_the_idempotency_key_so_a_resend_is_recognisable(
    smtp_server: SmtpServer,
) -> None:
    channel = channel_on(smtp_server.port)

    first = channel.send(ALICE, PAGE)
    second = channel.send(ALICE, PAGE)

    assert first.provider_id == second.provider_id == "<msg-42-1@vigil>"
    ids = [
        email.message_from_bytes(e.content)["Message-ID"]  # type: ignore[arg-type]
        for e in smtp_server.handler.envelopes
    ]
    assert ids == ["<msg-42-1@vigil>", "<msg-42-1@vigil>"]


def test_script_in_an_alert_summary_is_escaped_in_the_html_part(smtp_server: SmtpServer) -> None:
    hostile = Message(
        idempotency_key="msg-7",
        kind=MessageKind.PAGE,
        title='<img src=x onerror="alert(1)">',
        summary="<script>alert('pwned')</script>",
        service_name="<b>api</b>",
    )

    assert channel_on(smtp_server.port).send(ALICE, hostile).ok

    plain, rich = parts(received(smtp_server.handler))
    assert "<script>" not in rich and "<img" not in rich and "<b>api" not in rich
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in rich
    # The plain part is text, not markup: it shows exactly what the alert said.
    assert "<script>alert('pwned')</script>" in plain


def test_a_newline_in_an_alert_title_cannot_add_email_headers(smtp_server: SmtpServer) -> None:
    sneaky = Message(
        idempotency_key="msg-8",
        kind=MessageKind.PAGE,
        title="Disk full\r\nBcc: everyone@example.com",
    )

    assert channel_on(smtp_server.port).send(ALICE, sneaky).ok

    mail = received(smtp_server.handler)
    assert mail["Bcc"] is None
    assert mail["Subject"] == "Disk full Bcc: everyone@example.com"
    assert smtp_server.handler.envelopes[0].rcpt_tos == ["alice@example.com"]


def test_smtp_4xx_reply_is_a_transient_failure(smtp_server: SmtpServer) -> None:
    smtp_server.handler.rcpt_reply = "450 4.2.1 Mailbox busy, try later"

    result = channel_on(smtp_server.port).send(ALICE, PAGE)

    assert not result.ok and not result.permanent
    assert result.error == "450 4.2.1 Mailbox busy, try later"
    assert result.status_code == 450


def test_smtp_5xx_reply_is_a_permanent_failure_with_the_servers_words(
    smtp_server: SmtpServer,
) -> None:
    smtp_server.handler.rcpt_reply = "550 5.1.1 No such user here"

    result = channel_on(smtp_server.port).send(ALICE, PAGE)

    assert not result.ok and result.permanent
    assert result.error == "550 5.1.1 No such user here"


def test_message_refused_after_data_is_a_permanent_failure(smtp_server: SmtpServer) -> None:
    smtp_server.handler.data_reply = "554 5.7.1 Message rejected as spam"

    result = channel_on(smtp_server.port).send(ALICE, PAGE)

    assert result.permanent
    assert result.error == "554 5.7.1 Message rejected as spam"


def test_unreachable_smtp_server_is_a_transient_failure(closed_port: int) -> None:
    result = channel_on(closed_port).send(ALICE, PAGE)

    assert not result.ok and not result.permanent
    assert result.error is not None and "could not reach SMTP server" in result.error


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def only_pager(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"pager",
        b"s3cret",
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def starttls_server(tls_server_context: ssl.SSLContext) -> Iterator[SmtpServer]:
    """A submission server like a real provider's: STARTTLS required, then AUTH required."""
    handler = MailHandler()
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        tls_context=tls_server_context,
        require_starttls=True,
        authenticator=only_pager,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    try:
        yield SmtpServer(handler, port)
    finally:
        controller.stop()


def test_email_goes_through_starttls_and_login(
    starttls_server: SmtpServer, client_context: ssl.SSLContext
) -> None:
    channel = channel_on(
        starttls_server.port,
        security=SmtpSecurity.STARTTLS,
        username="pager",
        password="s3cret",
        tls_context=client_context,
    )

    result = channel.send(ALICE, PAGE)

    assert result.ok, result.error
    assert received(starttls_server.handler)["Subject"] == "[SEV1] #42 Disk full on db-1"


def test_wrong_smtp_password_is_a_permanent_failure(
    starttls_server: SmtpServer, client_context: ssl.SSLContext
) -> None:
    channel = channel_on(
        starttls_server.port,
        security=SmtpSecurity.STARTTLS,
        username="pager",
        password="wrong",
        tls_context=client_context,
    )

    result = channel.send(ALICE, PAGE)

    assert result.permanent
    assert result.error is not None and result.error.startswith("535")
    assert starttls_server.handler.envelopes == []


def test_untrusted_server_certificate_is_a_permanent_failure(starttls_server: SmtpServer) -> None:
    channel = channel_on(
        starttls_server.port, security=SmtpSecurity.STARTTLS, username="pager", password="s3cret"
    )

    result = channel.send(ALICE, PAGE)

    assert result.permanent
    assert result.error is not None and "certificate" in result.error
    assert starttls_server.handler.envelopes == []


def test_email_goes_through_implicit_tls(
    tls_server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    handler = MailHandler()
    port = free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, ssl_context=tls_server_context
    )
    controller.start()
    try:
        channel = channel_on(port, security=SmtpSecurity.TLS, tls_context=client_context)
        result = channel.send(ALICE, PAGE)
    finally:
        controller.stop()

    assert result.ok, result.error
    assert received(handler)["Message-ID"] == "<msg-42-1@vigil>"
