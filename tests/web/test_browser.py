"""The console in a real browser: Debian's Chromium driven by Playwright against a real server.

Skipped, with the reason, where /usr/bin/chromium is not installed (`apt-get install chromium`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.web.server import ADMIN_PASSWORD, LiveServer, live_server
from vigil.notify.links import LinkAction, sign

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-gpu",
]
WAIT_MS = 15_000

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="browser tests need Debian's Chromium at /usr/bin/chromium (apt-get install chromium)",
)

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("browser")) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, server: LiveServer) -> Iterator[Any]:
    context = browser.new_context(base_url=server.url)
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    yield tab
    context.close()


def sign_in(page: Any, server: LiveServer) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(server.admin_email)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Incidents", exact=True)).to_be_visible()


def send_alert(server: LiveServer, summary: str) -> None:
    key = server.demo.keys["checkout-api"]["generic"]
    response = httpx.post(
        f"{server.url}/integrations/generic/{key}",
        json={"summary": summary, "severity": "critical", "labels": {"alertname": summary}},
    )
    assert response.status_code == 202, response.text


def open_new_incident(page: Any, server: LiveServer) -> str:
    """Sign in, send an alert while the list is open, and open the incident it created."""
    sign_in(page, server)
    summary = f"Disk full {uuid.uuid4().hex[:8]}"
    send_alert(server, summary)
    page.get_by_role("link", name=summary).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(summary)
    return summary


def test_sign_in_with_email_and_password(page: Any, server: LiveServer) -> None:
    sign_in(page, server)
    assert page.url.endswith("/incidents")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()


def test_wrong_password_shows_an_error(page: Any, server: LiveServer) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(server.admin_email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match")


def test_an_incident_created_through_the_api_appears_live_in_the_list(
    page: Any, server: LiveServer
) -> None:
    sign_in(page, server)
    summary = f"Checkout 500s {uuid.uuid4().hex[:8]}"
    send_alert(server, summary)
    # No reload: the event stream tells the page, which fetches the new rows.
    expect(page.get_by_role("link", name=summary)).to_be_visible()


def test_acknowledge_an_incident_from_its_page(page: Any, server: LiveServer) -> None:
    open_new_incident(page, server)
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status").first).to_contain_text("acknowledged")
    expect(page.locator(".inc-header")).to_contain_text("acknowledged")


def test_post_a_status_update(page: Any, server: LiveServer) -> None:
    open_new_incident(page, server)
    page.get_by_label("Update", exact=True).fill("Rolling back the deploy")
    page.get_by_role("button", name="Post update").click()
    expect(page.locator("#timeline")).to_contain_text("Rolling back the deploy")


def test_assign_a_commander(page: Any, server: LiveServer) -> None:
    open_new_incident(page, server)
    page.get_by_label("Role", exact=True).select_option("commander")
    page.get_by_label("Person", exact=True).select_option(label="Bob Responder")
    page.get_by_role("button", name="Assign role").click()
    expect(page.locator(".inc-header")).to_contain_text("Bob Responder")
    expect(page.locator("#timeline")).to_contain_text("Bob Responder is incident commander")


def test_add_an_override_and_see_who_is_on_call(page: Any, server: LiveServer) -> None:
    sign_in(page, server)
    page.get_by_role("link", name="On-call", exact=True).click()
    now_section = page.locator("section", has=page.get_by_role("heading", name="On call now"))
    expect(now_section).to_contain_text("Platform on-call")
    start = datetime.now(UTC).astimezone(ZoneInfo("Europe/Berlin"))
    start = start.replace(tzinfo=None) - timedelta(minutes=5)
    # Whoever is not on call now takes over, so the change shows.
    person = "Bob Responder" if "Alice Admin" in now_section.inner_text() else "Alice Admin"
    page.get_by_label("Who is on call instead").select_option(label=person)
    page.get_by_label("From").fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Until").fill((start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Add override").click()
    expect(page.get_by_role("status").first).to_contain_text("Override added")
    expect(now_section).to_contain_text(person)


def test_a_tampered_signed_link_is_refused(page: Any, server: LiveServer) -> None:
    send_alert(server, f"Link test {uuid.uuid4().hex[:8]}")
    token = sign(
        server.secret,
        incident_id=1,
        action=LinkAction.ACKNOWLEDGE,
        user_id=1,
        now=datetime.now(UTC),
    )
    good = page.goto(f"/a/{token}")
    assert good is not None and good.status == 200
    middle = len(token) // 2
    tampered = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    response = page.goto(f"/a/{tampered}")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_contain_text("not valid")


def test_incident_page_fits_a_phone_without_horizontal_scrolling(
    browser: Any, server: LiveServer
) -> None:
    context = browser.new_context(base_url=server.url, viewport={"width": 360, "height": 780})
    context.set_default_timeout(WAIT_MS)
    phone = context.new_page()
    try:
        open_new_incident(phone, server)
        for url in (phone.url, f"{server.url}/incidents", f"{server.url}/oncall"):
            phone.goto(url)
            overflow = phone.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{url} scrolls sideways by {overflow}px at 360 px wide"
        phone.goto(f"{server.url}/incidents")
        expect(phone.get_by_role("link", name=re.compile("Disk full"))).not_to_have_count(0)
    finally:
        context.close()


def test_keyboard_users_can_skip_to_the_content_and_see_focus(
    page: Any, server: LiveServer
) -> None:
    sign_in(page, server)
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    outline = skip.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none"


def test_a_note_added_through_the_api_appears_live_on_the_timeline(
    page: Any, server: LiveServer
) -> None:
    open_new_incident(page, server)
    number = page.url.rstrip("/").rsplit("/", 1)[-1]
    response = httpx.post(
        f"{server.url}/api/v1/incidents/{number}/notes",
        json={"text": "Seen from the API"},
        headers={"Authorization": f"Bearer {server.demo.token}"},
    )
    assert response.status_code == 201, response.text
    expect(page.locator("#timeline")).to_contain_text("Seen from the API")
