"""Services: their integration keys with copy-ready URLs and config snippets, escalation
policy, support hours and response plans."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from vigil.accounts import service as accounts
from vigil.errors import VigilError
from vigil.escalation import service as escalation
from vigil.escalation.models import EscalationPolicy
from vigil.incidents import comms
from vigil.services import service as services
from vigil.services.models import IntegrationType
from vigil.services.schemas import IntegrationKeyCreate
from vigil.services.snippets import config_snippets, integration_urls
from vigil.web.auth import Admin, Form, Refused, SignedIn, text
from vigil.web.render import flash, page, redirect

router = APIRouter(include_in_schema=False)

SNIPPET_NAMES = {
    "alertmanager": "Alertmanager",
    "grafana": "Grafana",
    "prometheus": "Prometheus",
    "pagerduty": "PagerDuty Events API v2 tools",
    "generic": "Generic JSON (curl)",
}


@router.get("/services", response_class=HTMLResponse)
def service_list(request: Request, user: SignedIn) -> Response:
    with request.app.state.db.read_session() as session:
        items = services.list_services(session)
        policies = {p.id: p.name for p in escalation.list_policies(session)}
        teams = {t.id: t.name for t in accounts.list_teams(session)}
    return page(
        request,
        "services.html",
        {"services": items, "policies": policies, "teams": teams},
        user=user,
    )


@router.get("/services/{service_id}", response_class=HTMLResponse)
def service_page(request: Request, service_id: int, user: SignedIn) -> Response:
    base_url = request.app.state.settings.base_url
    with request.app.state.db.read_session() as session:
        try:
            service = services.get_service(session, service_id=service_id)
        except VigilError as exc:
            raise Refused(404, "Not found", exc.message) from exc
        keys = [
            {
                "row": key,
                "urls": integration_urls(base_url, key.key),
                "snippets": config_snippets(base_url, key.key),
            }
            for key in services.list_integration_keys(session, service_id=service_id)
        ]
        policy = (
            session.get(EscalationPolicy, service.escalation_policy_id)
            if service.escalation_policy_id
            else None
        )
        plans = comms.list_plans(session, service_id=service_id)
        teams = {t.id: t.name for t in accounts.list_teams(session)}
    return page(
        request,
        "service.html",
        {
            "service": service,
            "keys": keys,
            "policy": policy,
            "plans": plans,
            "team": teams.get(service.team_id) if service.team_id else None,
            "snippet_names": SNIPPET_NAMES,
            "key_types": [t.value for t in IntegrationType],
        },
        user=user,
    )


@router.post("/services/{service_id}/keys", response_class=HTMLResponse)
def add_key(request: Request, service_id: int, user: Admin, form: Form) -> Response:
    state = request.app.state
    try:
        data = IntegrationKeyCreate(type=text(form, "type", "generic"), name=text(form, "name"))
        with state.db.unit_of_work() as session:
            services.create_integration_key(
                session, service_id=service_id, data=data, now=state.clock.now()
            )
    except (VigilError, ValueError) as exc:
        flash(request, f"No key was made: {getattr(exc, 'message', exc)}")
        return redirect(f"/services/{service_id}")
    flash(request, "Integration key created.")
    return redirect(f"/services/{service_id}#keys")


@router.post("/services/{service_id}/keys/{key_id}/revoke", response_class=HTMLResponse)
def revoke_key(request: Request, service_id: int, key_id: int, user: Admin, form: Form) -> Response:
    state = request.app.state
    try:
        with state.db.unit_of_work() as session:
            services.revoke_integration_key(
                session, service_id=service_id, key_id=key_id, now=state.clock.now()
            )
    except VigilError as exc:
        raise Refused(404, "Not found", exc.message) from exc
    flash(request, "Integration key revoked: senders using it now get 404.")
    return redirect(f"/services/{service_id}#keys")
