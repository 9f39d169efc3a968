"""Escalation policies: every level with who it reaches and after how long; admins edit the
levels (running escalations keep the version they started with)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from vigil.accounts import service as accounts
from vigil.accounts.models import User
from vigil.errors import VigilError
from vigil.escalation import service as escalation
from vigil.escalation.schemas import PolicyUpdate
from vigil.notify import service as notify
from vigil.schedules import service as schedules
from vigil.web.auth import Admin, Form, Refused, SignedIn, text
from vigil.web.incidents import first_error
from vigil.web.render import flash, page, redirect

router = APIRouter(include_in_schema=False)
MAX_LEVELS = 20


def _target_choices(request: Request) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Every possible target as ("schedule:3", "Schedule: Platform on-call")."""
    with request.app.state.db.read_session() as session:
        choices = (
            [(f"schedule:{s.id}", f"Schedule: {s.name}") for s in schedules.list_schedules(session)]
            + [(f"user:{u.id}", f"Person: {u.name}") for u in accounts.list_users(session)]
            + [(f"team:{t.id}", f"Team: {t.name}") for t in accounts.list_teams(session)]
            + [(f"channel:{c.id}", f"Channel: {c.name}") for c in notify.list_channels(session)]
        )
    return choices, dict(choices)


@router.get("/policies", response_class=HTMLResponse)
def policy_list(request: Request, user: SignedIn) -> Response:
    _choices, labels = _target_choices(request)
    with request.app.state.db.read_session() as session:
        policies = escalation.list_policies(session)
    return page(request, "policies.html", {"policies": policies, "labels": labels}, user=user)


def _policy_page(
    request: Request,
    user: User,
    policy_id: int,
    *,
    errors: dict[str, str] | None = None,
    levels: list[dict[str, Any]] | None = None,
    status: int = 200,
) -> Response:
    choices, labels = _target_choices(request)
    with request.app.state.db.read_session() as session:
        try:
            policy = escalation.get_policy(session, policy_id=policy_id)
        except VigilError as exc:
            raise Refused(404, "Not found", exc.message) from exc
    editable = levels if levels is not None else [dict(level) for level in policy.levels]
    blank = {"targets": [], "delay_minutes": 5, "mode": "all"}
    return page(
        request,
        "policy.html",
        {
            "policy": policy,
            "labels": labels,
            "choices": choices,
            "edit_levels": [*editable, blank],
            "errors": errors or {},
        },
        user=user,
        status=status,
    )


@router.get("/policies/{policy_id}", response_class=HTMLResponse)
def policy_page(request: Request, policy_id: int, user: SignedIn) -> Response:
    return _policy_page(request, user, policy_id)


@router.post("/policies/{policy_id}/levels", response_class=HTMLResponse)
def edit_levels(request: Request, policy_id: int, user: Admin, form: Form) -> Response:
    """Replace the levels: one fieldset per level; a level without targets is dropped."""
    levels: list[dict[str, Any]] = []
    for index in range(MAX_LEVELS + 1):
        targets = []
        for value in form.getlist(f"targets-{index}"):
            kind, _, ident = str(value).partition(":")
            if ident.isdigit():
                targets.append({"type": kind, "id": int(ident)})
        if not targets:
            continue
        delay = text(form, f"delay-{index}", "5").strip()
        levels.append(
            {
                "targets": targets,
                "delay_minutes": int(delay) if delay.isdigit() else delay,
                "mode": text(form, f"mode-{index}", "all"),
            }
        )
    state = request.app.state
    try:
        data = PolicyUpdate.model_validate({"levels": levels})
        with state.db.unit_of_work() as session:
            escalation.update_policy(session, policy_id=policy_id, data=data, now=state.clock.now())
    except ValidationError as exc:
        _field, message = first_error(exc)
        return _policy_page(
            request, user, policy_id, errors={"levels": message}, levels=levels, status=422
        )
    except VigilError as exc:
        return _policy_page(
            request, user, policy_id, errors={"levels": exc.message}, levels=levels, status=422
        )
    flash(request, "Levels saved. Running escalations keep the version they started with.")
    return redirect(f"/policies/{policy_id}")
