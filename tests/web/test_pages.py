"""The console's pages: what people see, escaping of untrusted text, and what observers may do."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.web.conftest import csrf_of, sign_in
from vigil.accounts.models import Role, User
from vigil.services import service as services
from vigil.services.models import Service

HOSTILE = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


def test_alert_summary_and_labels_with_html_show_as_text(
    signed_in: tuple[TestClient, str], key: str, send_alert: Any
) -> None:
    web, _token = signed_in
    number = send_alert(key, summary=HOSTILE, labels={"<b>team</b>": HOSTILE})
    for url in ("/incidents", f"/incidents/{number}", f"/incidents/{number}/part/timeline"):
        html = web.get(url).text
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in html
    detail = web.get(f"/incidents/{number}").text
    assert "&lt;b&gt;team&lt;/b&gt;=" in detail


def test_pages_forbid_inline_script_by_content_security_policy(
    signed_in: tuple[TestClient, str],
) -> None:
    web, _token = signed_in
    policy = web.get("/incidents").headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy


def test_incident_list_filters_by_status_service_and_severity(
    signed_in: tuple[TestClient, str], key: str, make_service: Any, session: Any, send_alert: Any
) -> None:
    web, _token = signed_in
    first = send_alert(key, summary="Checkout latency high", labels={"alertname": "a"})
    second = send_alert(key, summary="Payments down", severity="warning", labels={"alertname": "b"})
    other: Service = make_service(name="search")
    other_key = services.list_integration_keys(session, service_id=other.id)[0].key
    third = send_alert(other_key, summary="Search index stale")

    everything = web.get("/incidents").text
    assert all(f"#{n}<" in everything for n in (first, second, third))
    by_service = web.get(f"/incidents?service={other.id}").text
    assert f"#{third}<" in by_service and f"#{first}<" not in by_service
    by_severity = web.get("/incidents?severity=SEV1").text
    assert f"#{first}<" in by_severity and f"#{second}<" not in by_severity
    web.post(f"/incidents/{first}/acknowledge", data={"csrf": _token})
    triggered = web.get("/incidents/rows?status=triggered").text
    assert f"#{first}<" not in triggered and f"#{second}<" in triggered


def test_observer_sees_no_action_buttons_and_is_refused_anyway(
    web: TestClient, make_person: Any, key: str, send_alert: Any
) -> None:
    observer: User = make_person(Role.OBSERVER)
    token = sign_in(web, observer)
    number = send_alert(key)
    page = web.get(f"/incidents/{number}").text
    assert "Acknowledge</button>" not in page
    assert "Post update" not in page
    assert "Declare an incident" not in web.get("/incidents").text
    refused = web.post(f"/incidents/{number}/acknowledge", data={"csrf": token})
    assert refused.status_code == 403
    assert "observer" in refused.text
    assert "triggered" in web.get(f"/incidents/{number}/part/header").text
    assert web.get("/incidents/new").status_code == 403


def test_every_main_page_renders_for_a_signed_in_responder(
    signed_in: tuple[TestClient, str],
    key: str,
    service: Service,
    responder: User,
    send_alert: Any,
) -> None:
    web, _token = signed_in
    number = send_alert(key)
    for url in (
        "/incidents",
        f"/incidents/{number}",
        "/incidents/new",
        "/services",
        f"/services/{service.id}",
        "/oncall",
        "/policies",
        "/users",
        f"/users/{responder.id}",
        "/me/oncall",
        "/account",
    ):
        response = web.get(url)
        assert response.status_code == 200, url
        assert '<main id="main"' in response.text


def test_service_page_shows_copy_ready_urls_and_snippets(
    signed_in: tuple[TestClient, str], key: str, service: Service
) -> None:
    web, _token = signed_in
    html = web.get(f"/services/{service.id}").text
    assert f"http://vigil.test/integrations/generic/{key}" in html
    assert f"path_prefix: /integrations/prometheus/{key}" in html
    assert f"routing_key: {key}" in html
    assert "Copy URL" in html


def test_unknown_incident_page_is_404(signed_in: tuple[TestClient, str]) -> None:
    web, _token = signed_in
    assert web.get("/incidents/999999").status_code == 404


def test_declare_keeps_what_you_typed_when_the_title_is_missing(
    signed_in: tuple[TestClient, str],
) -> None:
    web, token = signed_in
    response = web.post(
        "/incidents/new",
        data={"csrf": token, "title": "  ", "description": "we see 500s", "severity": "SEV2"},
    )
    assert response.status_code == 422
    assert "we see 500s" in response.text
    assert 'aria-invalid="true"' in response.text


def test_declare_opens_an_incident_with_you_as_commander(
    signed_in: tuple[TestClient, str], service: Service
) -> None:
    web, token = signed_in
    response = web.post(
        "/incidents/new",
        data={
            "csrf": token,
            "title": "Checkout is slow",
            "severity": "SEV2",
            "services": str(service.id),
        },
    )
    assert response.status_code == 303
    page = web.get(response.headers["location"]).text
    assert "Checkout is slow" in page
    assert "Rita Responder" in page
    assert "investigating" in page


def test_a_tampered_signed_link_is_refused(web: TestClient) -> None:
    assert web.get("/a/not-a-real-token").status_code == 403


def test_the_login_page_renders_without_a_session_cookie_first(web: TestClient) -> None:
    response = web.get("/login")
    assert response.status_code == 200
    assert csrf_of(response.text)
