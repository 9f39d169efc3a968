"""Save the console's main pages to docs/screenshots/*.png, from a real server seeded with the
demo, in Debian's Chromium (`make screenshots`).

Run from the repository root: .venv/bin/python -m tests.web.screenshots [output folder]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

from tests.web.server import ADMIN_PASSWORD, LiveServer, live_server

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-gpu",
]


def _incident(server: LiveServer) -> None:
    """A realistic incident to look at: two alerts, an acknowledgement, an update and a task."""
    key = server.demo.keys["checkout-api"]["generic"]
    for summary, labels in (
        ("Checkout API error rate above 5%", {"alertname": "HighErrorRate", "region": "eu-1"}),
        ("Checkout p99 latency above 2s", {"alertname": "HighErrorRate", "region": "eu-2"}),
    ):
        httpx.post(
            f"{server.url}/integrations/generic/{key}",
            json={"summary": summary, "severity": "critical", "labels": labels},
        ).raise_for_status()
    auth = {"Authorization": f"Bearer {server.demo.token}"}
    api = f"{server.url}/api/v1/incidents/1"
    httpx.post(f"{api}/acknowledge", headers=auth).raise_for_status()
    httpx.post(
        f"{api}/updates",
        json={"message": "Rolling back release 2026.03.1", "audience": "stakeholders"},
        headers=auth,
    ).raise_for_status()
    httpx.post(f"{api}/tasks", json={"title": "Check the payment queue"}, headers=auth)


def _shoot(page: Page, url: str, path: Path) -> None:
    page.goto(url)
    page.wait_for_load_state("load")
    page.screenshot(path=str(path), full_page=True)
    print(f"saved {path}")


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, live_server(Path(tmp)) as server:
        _incident(server)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            for name, viewport in (
                ("", {"width": 1280, "height": 800}),
                ("-phone", {"width": 360, "height": 780}),
            ):
                context = browser.new_context(base_url=server.url, viewport=viewport)
                page = context.new_page()
                page.goto("/login")
                if not name:
                    page.screenshot(path=str(out / "login.png"))
                page.get_by_label("Email").fill(server.admin_email)
                page.get_by_label("Password").fill(ADMIN_PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url("**/incidents")
                pages = {"incidents": "/incidents", "incident": "/incidents/1"}
                if not name:
                    pages.update(
                        {
                            "declare": "/incidents/new",
                            "services": "/services",
                            "service": "/services/1",
                            "oncall": "/oncall",
                            "policy": "/policies/1",
                            "user": "/users/1",
                            "my-oncall": "/me/oncall",
                        }
                    )
                for shot, url in pages.items():
                    _shoot(page, url, out / f"{shot}{name}.png")
                context.close()
            browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/screenshots"))
