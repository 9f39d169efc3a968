"""Incident-command commands over the API: declare, phases, roles, updates, tasks, timeline,
merge, impact. Registered under `vigil incident`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from vigil.cli.client import ApiClient, CliError
from vigil.cli.output import actor, console, local_time, print_json, table
from vigil.cli.schedules import user_id_of
from vigil.config import get_settings

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
ROLES = ("commander", "technical_lead", "communications_manager", "scribe", "subject_matter_expert")


def _client() -> ApiClient:
    return ApiClient(get_settings())


def _service_ids(client: ApiClient, refs: list[str]) -> list[int]:
    services = client.get("/api/v1/services")
    ids = []
    for ref in refs:
        match = next((s for s in services if ref in (s["name"], str(s["id"]))), None)
        if match is None:
            raise CliError(f"service {ref!r} not found")
        ids.append(match["id"])
    return ids


def declare(
    title: str,
    severity: Annotated[str, typer.Option(help="SEV1..SEV4.")],
    service: Annotated[
        list[str] | None, typer.Option(help="Affected service (repeatable).")
    ] = None,
    description: Annotated[str, typer.Option(help="What is happening.")] = "",
    commander: Annotated[str | None, typer.Option(help="Commander (default: you).")] = None,
    page: Annotated[bool, typer.Option(help="Page the first service's escalation policy.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Declare an incident by hand."""
    client = _client()
    body: dict[str, Any] = {
        "title": title,
        "severity": severity.upper(),
        "description": description,
        "services": _service_ids(client, service or []),
        "page": page,
    }
    if commander:
        body["commander_id"] = user_id_of(client, commander)
    incident = client.post("/api/v1/incidents", json=body)
    if json_output:
        print_json(incident)
        return
    console.print(f"declared #{incident['number']} {incident['severity']}: {incident['title']}")
    if incident.get("war_room_url"):
        console.print(f"war room: {incident['war_room_url']}")
    for task in incident["tasks"]:
        console.print(f"  task: {task['title']}")


def status(
    number: int,
    phase: Annotated[
        str, typer.Argument(help="acknowledged, investigating, identified, monitoring, resolved")
    ],
    message: Annotated[str, typer.Option(help="What changed.")] = "",
    json_output: JsonOption = False,
) -> None:
    """Move an incident to another phase."""
    incident = _client().post(
        f"/api/v1/incidents/{number}/status", json={"status": phase, "message": message}
    )
    if json_output:
        print_json(incident)
    else:
        console.print(f"#{number} is {incident['status']}")


def role(
    number: int,
    role_name: Annotated[str, typer.Argument(metavar="ROLE", help=", ".join(ROLES))],
    user: Annotated[str, typer.Argument(help="User id, email, or the name before the @.")],
    json_output: JsonOption = False,
) -> None:
    """Give someone a role; the current holder hands it over."""
    aliases = {
        "ic": "commander",
        "lead": "technical_lead",
        "comms": "communications_manager",
        "sme": "subject_matter_expert",
        "tl": "technical_lead",
        "cm": "communications_manager",
    }
    name = aliases.get(role_name, role_name)
    if name not in ROLES:
        raise CliError(f"role {role_name!r}: use one of {', '.join(ROLES)}")
    client = _client()
    incident = client.post(
        f"/api/v1/incidents/{number}/roles",
        json={"role": name, "user_id": user_id_of(client, user)},
    )
    if json_output:
        print_json(incident)
        return
    for held in incident["roles"]:
        if held["role"] == name:
            console.print(f"#{number}: {name.replace('_', ' ')} is user {held['user_id']}")
            for duty in held["duties"]:
                console.print(f"  · {duty}")


def update(
    number: int,
    message: str,
    audience: Annotated[str, typer.Option(help="internal, stakeholders or public.")] = "internal",
    json_output: JsonOption = False,
) -> None:
    """Post a status update."""
    result = _client().post(
        f"/api/v1/incidents/{number}/updates", json={"message": message, "audience": audience}
    )
    if json_output:
        print_json(result)
    else:
        console.print(f"#{number}: {audience} update posted")


def task(
    number: int,
    action: Annotated[str, typer.Argument(help="add, done, or list")],
    text: Annotated[str | None, typer.Argument(help="The task (add) or its id (done).")] = None,
    assignee: Annotated[str | None, typer.Option(help="Who does it.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Add, complete or list an incident's tasks."""
    client = _client()
    if action == "add":
        if not text:
            raise CliError("task add needs the task's text")
        body: dict[str, Any] = {"title": text}
        if assignee:
            body["assignee_id"] = user_id_of(client, assignee)
        result = client.post(f"/api/v1/incidents/{number}/tasks", json=body)
        message = f"task {result['id']} added"
    elif action == "done":
        if not text or not text.isdigit():
            raise CliError("task done needs the task's id (see `vigil incident task N list`)")
        result = client.request(
            "PATCH", f"/api/v1/incidents/{number}/tasks/{text}", json={"status": "done"}
        )
        message = f"task {text} done"
    elif action == "list":
        result = client.get(f"/api/v1/incidents/{number}")["tasks"]
        if not json_output:
            table(
                f"Tasks of #{number}",
                ["id", "status", "task", "assignee"],
                [(t["id"], t["status"], t["title"], t["assignee_id"]) for t in result],
            )
            return
        message = ""
    else:
        raise CliError(f"task {action!r}: use add, done or list")
    if json_output:
        print_json(result)
    else:
        console.print(message)


def timeline(number: int, json_output: JsonOption = False) -> None:
    """The incident's timeline: everything that happened, in order."""
    client = _client()
    incident = client.get(f"/api/v1/incidents/{number}")
    if json_output:
        print_json(incident["timeline"])
        return
    table(
        f"#{number} {incident['title']} — {incident['severity']}, {incident['status']}",
        ["when", "", "what", "by", "message"],
        [
            (
                local_time(e["at"]),
                ("★" if e["pinned"] else "") + ("✎" if e["recorded_at"] else ""),
                e["kind"],
                actor(e),
                e["message"],
            )
            for e in incident["timeline"]
        ],
    )


def merge(
    number: int,
    into: Annotated[int, typer.Option(help="The incident to merge into.")],
    json_output: JsonOption = False,
) -> None:
    """Merge an incident into another: its alerts and timeline move there."""
    result = _client().post(f"/api/v1/incidents/{number}/merge", json={"into": into})
    if json_output:
        print_json(result)
    else:
        console.print(f"#{number} merged into #{into}")


def impact(
    number: int,
    customers: Annotated[
        int | None, typer.Option(help="Customers affected (a count or estimate).")
    ] = None,
    customer_facing: Annotated[bool, typer.Option(help="Customers can see it.")] = False,
    scope: Annotated[
        str, typer.Option(help="none, degraded, partial_outage, complete_outage.")
    ] = "none",
    sla_breached: Annotated[bool, typer.Option(help="An SLA is breached.")] = False,
    revenue: Annotated[float | None, typer.Option(help="Revenue at risk.")] = None,
    regulatory: Annotated[bool, typer.Option(help="Regulatory or compliance exposure.")] = False,
    data_integrity: Annotated[bool, typer.Option(help="Data integrity affected.")] = False,
    security: Annotated[bool, typer.Option(help="A security breach.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Record the impact assessment and see the severity it suggests (nothing changes)."""
    body = {
        "customers_affected": customers,
        "customer_facing": customer_facing,
        "scope": scope,
        "sla_breached": sla_breached,
        "revenue_at_risk": revenue,
        "regulatory_exposure": regulatory,
        "data_integrity_affected": data_integrity,
        "security_breach": security,
    }
    result = _client().request("PUT", f"/api/v1/incidents/{number}/impact", json=body)
    if json_output:
        print_json(result)
        return
    console.print(
        f"suggested {result['severity']} (now {result['current']}): {'; '.join(result['reasons'])}"
    )
    if result["severity"] != result["current"]:
        console.print(
            f"to apply: vigil incident severity {number} {result['severity']} --reason ..."
        )
