"""Email over SMTP: a plain-text and an HTML part, the severity and title in the subject, the links
in both.

The Message-ID is derived from the idempotency key, so a message sent twice after a crashed attempt
carries the same Message-ID and mail clients and archives can recognise the resend. SMTP replies map
like HTTP ones: 4xx is transient, 5xx permanent; a server that cannot be reached is transient.
"""

from __future__ import annotations

import html
import re
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime
from enum import StrEnum

from vigil.clock import Clock, SystemClock
from vigil.notify.channels.base import Destination, Message, MessageKind, SendResult
from vigil.notify.channels.http import one_line

SUBJECT_LIMIT = 200
# RFC 5322 dot-atom text: what may stand left of the @ in a Message-ID.
_NOT_ATOM = re.compile(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]")


class SmtpSecurity(StrEnum):
    STARTTLS = "starttls"  # usually port 587
    TLS = "tls"  # implicit TLS, usually port 465
    NONE = "none"  # a local relay or a test server only


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """How to reach the mail server; `tls_context` defaults to the system's trusted CAs."""

    host: str
    from_address: str
    port: int = 587
    security: SmtpSecurity = SmtpSecurity.STARTTLS
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 10.0
    tls_context: ssl.SSLContext | None = None
    message_id_domain: str = "vigil"


def message_id(idempotency_key: str, domain: str = "vigil") -> str:
    """`<{idempotency_key}@vigil>`, with characters a Message-ID cannot hold replaced by `-`."""
    return f"<{_NOT_ATOM.sub('-', idempotency_key).strip('.') or 'message'}@{domain}>"


def _header_text(text: str, limit: int) -> str:
    # Header values must be one line: a newline in an alert title would otherwise inject headers.
    squeezed = " ".join(text.split())
    return squeezed if len(squeezed) <= limit else squeezed[: limit - 1] + "…"


def _facts(message: Message) -> list[tuple[str, str]]:
    facts = [
        ("Severity", message.severity),
        ("Service", message.service_name),
        (
            "Incident",
            f"#{message.incident_number}" if message.incident_number is not None else None,
        ),
    ]
    return [(name, value) for name, value in facts if value]


def plain_text(message: Message) -> str:
    lines = [message.subject, ""]
    if message.summary:
        lines += [message.summary, ""]
    lines += [f"{name}: {value}" for name, value in _facts(message)]
    if message.body:
        lines += ["", message.body]
    if message.links:
        lines += ["", *(f"{link.label}: {link.url}" for link in message.links)]
    lines += ["", "-- ", "Sent by Vigil."]
    return "\n".join(lines) + "\n"


def html_text(message: Message) -> str:
    """The HTML part; every piece of message text is escaped, since it comes from alerts."""
    esc = html.escape
    colour = {
        MessageKind.PAGE: "#b91c1c",
        MessageKind.RESOLVED: "#15803d",
    }.get(message.kind, "#1f2937")
    parts = [
        "<!DOCTYPE html>",
        '<html><body style="font-family: sans-serif; color: #111827;">',
        f'<h2 style="color: {colour};">{esc(message.subject)}</h2>',
    ]
    if message.summary:
        parts.append(f"<p>{esc(message.summary)}</p>")
    facts = _facts(message)
    if facts:
        rows = "".join(
            f'<tr><th style="text-align: left; padding-right: 1em;">{esc(name)}</th>'
            f"<td>{esc(value)}</td></tr>"
            for name, value in facts
        )
        parts.append(f"<table>{rows}</table>")
    if message.body:
        parts.append(f'<pre style="white-space: pre-wrap;">{esc(message.body)}</pre>')
    if message.links:
        links = " | ".join(
            f'<a href="{esc(link.url, quote=True)}">{esc(link.label)}</a>' for link in message.links
        )
        parts.append(f"<p>{links}</p>")
    parts += ['<p style="color: #6b7280; font-size: small;">Sent by Vigil.</p>', "</body></html>"]
    return "\n".join(parts) + "\n"


def build_email(
    message: Message, *, to: str, from_address: str, clock: Clock, domain: str = "vigil"
) -> EmailMessage:
    """The complete email: headers, then text/plain and text/html alternatives."""
    email = EmailMessage()
    email["Subject"] = _header_text(message.subject, SUBJECT_LIMIT)
    email["From"] = from_address
    email["To"] = to
    email["Date"] = format_datetime(clock.now())
    email["Message-ID"] = message_id(message.idempotency_key, domain)
    email["X-Vigil-Idempotency-Key"] = _header_text(message.idempotency_key, 200)
    # RFC 3834: tells vacation responders not to answer a page.
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(plain_text(message))
    email.add_alternative(html_text(message), subtype="html")
    return email


def _reply(code: int, text: bytes | str) -> SendResult:
    detail = text.decode(errors="replace") if isinstance(text, bytes) else text
    error = one_line(f"{code} {detail}")
    if 500 <= code < 600:
        return SendResult.failed(error, status_code=code)
    return SendResult.transient(error, status_code=code)


class EmailChannel:
    """Sends one email per message over a fresh SMTP connection (pages are rare; a pool would go
    stale)."""

    def __init__(self, config: SmtpConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        context = config.tls_context or ssl.create_default_context()
        smtp: smtplib.SMTP
        if config.security is SmtpSecurity.TLS:
            smtp = smtplib.SMTP_SSL(
                config.host, config.port, timeout=config.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
        try:
            if config.security is SmtpSecurity.STARTTLS:
                smtp.starttls(context=context)
            if config.username is not None:
                smtp.login(config.username, config.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, destination: Destination, message: Message) -> SendResult:
        email = build_email(
            message,
            to=destination.address,
            from_address=self.config.from_address,
            clock=self.clock,
            domain=self.config.message_id_domain,
        )
        try:
            with self._connect() as smtp:
                smtp.send_message(
                    email, from_addr=self.config.from_address, to_addrs=[destination.address]
                )
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            return _reply(code, text)
        except smtplib.SMTPResponseException as exc:
            # Sender refused, data refused, bad greeting, failed login: the server's own reply
            # decides.
            return _reply(exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPNotSupportedError as exc:
            return SendResult.failed(f"SMTP server does not support it: {one_line(str(exc))}")
        except ssl.SSLCertVerificationError as exc:
            return SendResult.failed(f"TLS certificate refused: {one_line(str(exc))}")
        except TimeoutError:
            return SendResult.transient(f"timed out after {self.config.timeout:g}s")
        except (smtplib.SMTPException, OSError) as exc:
            return SendResult.transient(f"could not reach SMTP server: {one_line(str(exc))}")
        return SendResult.sent(provider_id=email["Message-ID"])
