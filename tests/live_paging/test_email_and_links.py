"""A page by email to a real SMTP server, and the signed links in it, against `vigil serve`.

The server's embedded worker sends through aiosmtpd on 127.0.0.1; the test reads the email as the
paged person would and follows its Acknowledge, Resolve and Open links without logging in.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from tests.live_paging.harness import (
    PG_URL,
    Inbox,
    Installation,
    Processes,
    created,
    installation,
    new_user,
    paged_service,
    poll,
    smtp_server,
    verification_code,
)
from vigil.clock import SystemClock
from vigil.notify.links import LinkAction, sign

LINK = re.compile(r"^(Acknowledge|Resolve|Open): (\S+)$")
SUMMARY = "Disk full on db-1 & <db-2>"


@dataclass
class Site:
    install: Installation
    api: httpx.Client
    url: str
    inbox: Inbox
    user: dict[str, Any]
    key: str


@dataclass
class Page:
    """One page email and the incident it is about."""

    number: int
    incident_id: int
    email: EmailMessage
    links: dict[str, str]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    """`vigil serve` with its worker mailing through aiosmtpd, and a user paged by email whose
    address was verified with the code the verification email carried."""
    if request.param == "postgresql" and not PG_URL:
        pytest.skip("PostgreSQL skipped: VIGIL_TEST_DATABASE_URL is not set")
    root = tmp_path_factory.mktemp(f"email-{request.param}")
    with smtp_server() as (port, inbox), installation(request.param, root) as install:
        processes = Processes(
            install,
            {
                "VIGIL_SMTP_HOST": "127.0.0.1",
                "VIGIL_SMTP_PORT": str(port),
                "VIGIL_SMTP_SECURITY": "none",
                "VIGIL_SMTP_FROM": "vigil@example.com",
                "VIGIL_WORKER_INTERVAL_SECONDS": "0.2",
            },
        )
        try:
            server = processes.serve()
            headers = {"Authorization": f"Bearer {install.token}"}
            with httpx.Client(base_url=server.url, headers=headers, timeout=30) as api:
                user = new_user(api, "Dana Pager")
                method = created(
                    api.post(
                        f"/api/v1/users/{user['id']}/contact-methods",
                        json={"kind": "email", "address": user["email"]},
                    )
                )
                code = poll(
                    lambda: next(
                        (
                            found
                            for mail in inbox.to(user["email"])
                            if (found := verification_code(str(mail["Subject"])))
                        ),
                        None,
                    ),
                    within=60,
                    what="the verification email",
                )
                verified = created(
                    api.post(
                        f"/api/v1/users/{user['id']}/contact-methods/{method['id']}/verify",
                        json={"code": code},
                    )
                )
                assert verified["verified_at"] is not None
                _service, key = paged_service(api, user_id=user["id"], name="email-links")
                yield Site(install, api, server.url, inbox, user, key)
        finally:
            processes.stop_all()


def open_incident(site: Site) -> Page:
    """Send one new alert, wait for the page email it causes, and return it with its links."""
    response = site.api.post(
        f"/integrations/generic/{site.key}",
        json={"summary": SUMMARY, "severity": "critical", "dedup_key": secrets.token_hex(8)},
    )
    assert response.status_code == 202, response.text
    [number] = response.json()["incidents_opened"]

    def page_email() -> EmailMessage | None:
        for mail in site.inbox.to(site.user["email"]):
            if f"#{number} " in str(mail["Subject"]):
                return mail
        return None

    mail = poll(page_email, within=60, what=f"the page email for incident #{number}")
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None
    lines = text.get_content().splitlines()
    links = dict(found.groups() for line in lines if (found := LINK.match(line)))
    incident_id = int(links["Acknowledge"].rsplit("/", 1)[1].split(".")[0])
    return Page(number, incident_id, mail, links)


def incident(site: Site, number: int) -> dict[str, Any]:
    response = site.api.get(f"/api/v1/incidents/{number}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def tamper(url: str, part: int) -> str:
    """The link with one character changed in one dot-separated part of its token."""
    base, token = url.rsplit("/", 1)
    parts = token.split(".")
    original = parts[part]
    replacement = "A" if original[-1] != "A" else "B"
    if original.isdigit():
        replacement = "1" if original[-1] != "1" else "2"
    parts[part] = original[:-1] + replacement
    return f"{base}/{'.'.join(parts)}"


def test_page_email_has_severity_and_summary_in_subject_text_and_html_and_signed_links(
    site: Site,
) -> None:
    page = open_incident(site)

    assert page.email["Subject"] == f"[SEV1] #{page.number} {SUMMARY}"
    assert page.email["To"] == site.user["email"]
    text = page.email.get_body(preferencelist=("plain",))
    html = page.email.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert SUMMARY in text.get_content()
    # The summary came from an alert: the HTML part shows it escaped, never as markup.
    assert "Disk full on db-1 &amp; &lt;db-2&gt;" in html.get_content()
    assert "<db-2>" not in html.get_content()
    assert set(page.links) == {"Acknowledge", "Resolve", "Open"}
    for label, url in page.links.items():
        assert url.startswith(f"{site.url}/a/"), url
        assert f'href="{url}"' in html.get_content(), label
    # A resend after a crash would carry the same Message-ID: it is the message's idempotency key.
    assert page.email["Message-ID"] == f"<{page.email['X-Vigil-Idempotency-Key']}@vigil>"


def test_acknowledge_link_asks_on_get_and_acknowledges_on_post_as_the_paged_user(
    site: Site,
) -> None:
    page = open_incident(site)
    ack = page.links["Acknowledge"]

    shown = httpx.get(ack)
    assert shown.status_code == 200
    assert f"Acknowledge incident #{page.number}" in shown.text
    assert incident(site, page.number)["status"] == "triggered"  # a mail scanner's GET is harmless

    done = httpx.post(ack)
    assert done.status_code == 200
    assert f"Acknowledged by {site.user['name']}" in done.text
    after = incident(site, page.number)
    assert after["status"] == "acknowledged"
    assert after["acknowledged_by_id"] == site.user["id"]


def test_open_link_shows_the_incident_but_cannot_change_it(site: Site) -> None:
    page = open_incident(site)
    opened = page.links["Open"]

    shown = httpx.get(opened)
    assert shown.status_code == 200
    assert f"#{page.number}" in shown.text
    assert "<form" not in shown.text
    assert httpx.post(opened).status_code == 403
    assert incident(site, page.number)["status"] == "triggered"


@pytest.mark.parametrize("part", [0, 4], ids=["incident", "signature"])
def test_tampered_link_is_refused_with_403_and_changes_nothing(site: Site, part: int) -> None:
    page = open_incident(site)
    forged = tamper(page.links["Resolve"], part)

    for response in (httpx.get(forged), httpx.post(forged)):
        assert response.status_code == 403
        assert "This link is not valid" in response.text
    assert incident(site, page.number)["status"] == "triggered"


def test_resolve_link_on_a_resolved_incident_says_it_is_already_resolved(site: Site) -> None:
    page = open_incident(site)
    resolve = page.links["Resolve"]
    first = httpx.post(resolve)
    assert first.status_code == 200
    assert f"Resolved by {site.user['name']}" in first.text
    assert incident(site, page.number)["resolved_by_id"] == site.user["id"]

    shown = httpx.get(resolve)
    assert shown.status_code == 200
    assert "This incident is already resolved." in shown.text
    assert "<form" not in shown.text
    again = httpx.post(resolve)
    assert again.status_code == 409
    assert "This incident is already resolved." in again.text


def test_expired_link_says_so_offers_the_login_and_changes_nothing(site: Site) -> None:
    """A link signed with the server's own key a day and an hour ago (no one waits 24 hours)."""
    page = open_incident(site)
    token = sign(
        site.install.secret_key,
        incident_id=page.incident_id,
        action=LinkAction.ACKNOWLEDGE,
        user_id=site.user["id"],
        now=SystemClock().now() - timedelta(hours=25),
    )
    expired = f"{site.url}/a/{token}"

    for response in (httpx.get(expired), httpx.post(expired)):
        assert response.status_code == 410
        assert "This link has expired" in response.text
        assert 'href="/"' in response.text
    assert incident(site, page.number)["status"] == "triggered"
