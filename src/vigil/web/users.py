"""People: the user list with teams, and each user's contact methods, notification rules and a
"send me a test" button. People change their own; admins change anyone's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from vigil.accounts import service as accounts
from vigil.accounts.models import Role, User
from vigil.errors import VigilError
from vigil.notify import service as notify
from vigil.notify.channels import Destination, Message, MessageKind
from vigil.notify.models import ContactKind
from vigil.notify.schemas import ContactMethodCreate, RuleCreate, VerifyRequest
from vigil.notify.senders import channels_from_settings
from vigil.web.auth import Form, Refused, SignedIn, text
from vigil.web.incidents import first_error
from vigil.web.render import flash, page, redirect

router = APIRouter(include_in_schema=False)


def _may_edit(actor: User, user_id: int) -> bool:
    return actor.role == Role.ADMIN or (actor.id == user_id and actor.role != Role.OBSERVER)


def _require_edit(actor: User, user_id: int) -> None:
    if not _may_edit(actor, user_id):
        raise Refused(403, "Not allowed", "You can change only your own contact methods.")


@router.get("/users", response_class=HTMLResponse)
def user_list(request: Request, user: SignedIn) -> Response:
    with request.app.state.db.read_session() as session:
        users = accounts.list_users(session)
        teams = accounts.list_teams(session)
        members = {t.id: accounts.member_ids(session, team_id=t.id) for t in teams}
    names = {u.id: u.name for u in users}
    return page(
        request,
        "users.html",
        {"users": users, "teams": teams, "members": members, "names": names},
        user=user,
    )


def _user_page(
    request: Request,
    actor: User,
    user_id: int,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    results: list[dict[str, Any]] | None = None,
    status: int = 200,
) -> Response:
    with request.app.state.db.read_session() as session:
        try:
            person = accounts.get_user(session, user_id=user_id)
        except VigilError as exc:
            raise Refused(404, "Not found", exc.message) from exc
        methods = notify.list_contact_methods(session, user_id=user_id)
        rules = notify.list_rules(session, user_id=user_id)
        team_ids = accounts.team_ids_of(session, user_id=user_id)
        teams = [t for t in accounts.list_teams(session) if t.id in team_ids]
    return page(
        request,
        "user.html",
        {
            "person": person,
            "methods": methods,
            "method_names": {m.id: f"{m.label or m.kind}: {m.address}" for m in methods},
            "rules": rules,
            "teams": teams,
            "kinds": [k.value for k in ContactKind],
            "may_edit": _may_edit(actor, user_id),
            "errors": errors or {},
            "values": values or {},
            "results": results,
        },
        user=actor,
        status=status,
    )


@router.get("/users/{user_id}", response_class=HTMLResponse)
def user_page(request: Request, user_id: int, user: SignedIn) -> Response:
    return _user_page(request, user, user_id)


@router.get("/me", response_class=HTMLResponse)
def me(request: Request, user: SignedIn) -> Response:
    return redirect(f"/users/{user.id}")


@router.post("/users/{user_id}/contact-methods", response_class=HTMLResponse)
def add_method(request: Request, user_id: int, user: SignedIn, form: Form) -> Response:
    _require_edit(user, user_id)
    state = request.app.state
    values = {
        "kind": text(form, "kind"),
        "address": text(form, "address"),
        "label": text(form, "label"),
    }
    try:
        data = ContactMethodCreate(**values)
        with state.db.unit_of_work() as session:
            notify.add_contact_method(
                session, user_id=user_id, data=data, now=state.clock.now(), links=state.links
            )
    except ValidationError as exc:
        field, message = first_error(exc)
        return _user_page(
            request, user, user_id, errors={field: message}, values=values, status=422
        )
    except VigilError as exc:
        field = (exc.field or "address").split(".")[-1]
        return _user_page(
            request, user, user_id, errors={field: exc.message}, values=values, status=422
        )
    state.wake()
    flash(request, "Contact method added: enter the code we sent to it to verify it.")
    return redirect(f"/users/{user_id}")


@router.post("/users/{user_id}/contact-methods/{method_id}/verify", response_class=HTMLResponse)
def verify_method(
    request: Request, user_id: int, method_id: int, user: SignedIn, form: Form
) -> Response:
    _require_edit(user, user_id)
    state = request.app.state
    try:
        body = VerifyRequest(code=text(form, "code"))
        with state.db.unit_of_work() as session:
            notify.verify_contact_method(
                session, user_id=user_id, method_id=method_id, code=body.code, now=state.clock.now()
            )
    except ValidationError as exc:
        return _user_page(
            request, user, user_id, errors={f"code-{method_id}": first_error(exc)[1]}, status=422
        )
    except VigilError as exc:
        return _user_page(
            request, user, user_id, errors={f"code-{method_id}": exc.message}, status=422
        )
    flash(request, "Contact method verified.")
    return redirect(f"/users/{user_id}")


@router.post("/users/{user_id}/contact-methods/{method_id}/delete", response_class=HTMLResponse)
def delete_method(
    request: Request, user_id: int, method_id: int, user: SignedIn, _form: Form
) -> Response:
    _require_edit(user, user_id)
    with request.app.state.db.unit_of_work() as session:
        try:
            notify.delete_contact_method(session, user_id=user_id, method_id=method_id)
        except VigilError as exc:
            raise Refused(404, "Not found", exc.message) from exc
    flash(request, "Contact method removed.")
    return redirect(f"/users/{user_id}")


@router.post("/users/{user_id}/rules", response_class=HTMLResponse)
def add_rule(request: Request, user_id: int, user: SignedIn, form: Form) -> Response:
    _require_edit(user, user_id)
    values = {
        "urgency": text(form, "urgency"),
        "contact_method_id": text(form, "contact_method_id"),
        "delay_minutes": text(form, "delay_minutes", "0") or "0",
    }
    try:
        data = RuleCreate.model_validate(values, strict=False)
        with request.app.state.db.unit_of_work() as session:
            notify.create_rule(session, user_id=user_id, data=data)
    except ValidationError as exc:
        field, message = first_error(exc)
        return _user_page(
            request, user, user_id, errors={f"rule-{field}": message}, values=values, status=422
        )
    except VigilError as exc:
        return _user_page(
            request,
            user,
            user_id,
            errors={f"rule-{exc.field or 'contact_method_id'}": exc.message},
            values=values,
            status=422,
        )
    flash(request, "Notification rule added.")
    return redirect(f"/users/{user_id}#rules")


@router.post("/users/{user_id}/rules/{rule_id}/delete", response_class=HTMLResponse)
def delete_rule(
    request: Request, user_id: int, rule_id: int, user: SignedIn, _form: Form
) -> Response:
    _require_edit(user, user_id)
    with request.app.state.db.unit_of_work() as session:
        try:
            notify.delete_rule(session, user_id=user_id, rule_id=rule_id)
        except VigilError as exc:
            raise Refused(404, "Not found", exc.message) from exc
    flash(request, "Notification rule removed.")
    return redirect(f"/users/{user_id}#rules")


@router.post("/users/{user_id}/test", response_class=HTMLResponse)
def send_test(request: Request, user_id: int, user: SignedIn, _form: Form) -> Response:
    """Send a test to each contact method now, and show what each channel answered."""
    _require_edit(user, user_id)
    state = request.app.state
    now = state.clock.now()
    with state.db.read_session() as session:
        methods = notify.list_contact_methods(session, user_id=user_id)
    channels = channels_from_settings(state.settings, state.clock)
    results = []
    try:
        for method in methods:
            message = Message(
                idempotency_key=f"test-{method.id}-{int(now.timestamp())}",
                kind=MessageKind.TEST,
                title="Vigil test notification",
                summary="If you can read this, Vigil can reach you here.",
            )
            outcome = channels.send(
                Destination(notify.CHANNEL_OF[method.kind], method.address), message
            )
            results.append({"method": method, "ok": outcome.ok, "error": outcome.error})
    finally:
        channels.close()
    return _user_page(request, user, user_id, results=results)
