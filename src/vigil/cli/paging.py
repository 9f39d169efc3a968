"""Paging commands over the API: escalation policies, tests of contact methods, escalate and
reassign incidents, and the escalation plan."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from vigil.cli.client import ApiClient, CliError
from vigil.cli.output import console, local_time, print_json, table
from vigil.cli.schedules import user_id_of
from vigil.config import get_settings

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

policy_app = typer.Typer(help="Escalation policies.", no_args_is_help=True)
notify_app = typer.Typer(help="Notifications.", no_args_is_help=True)


def _client() -> ApiClient:
    return ApiClient(get_settings())


@policy_app.command("list")
def policy_list(json_output: JsonOption = False) -> None:
    """Escalation policies with their levels."""
    policies = _client().get("/api/v1/escalation-policies")
    if json_output:
        print_json(policies)
        return
    rows = []
    for policy in policies:
        for index, level in enumerate(policy["levels"], start=1):
            targets = ", ".join(f"{t['type']} {t['id']}" for t in level["targets"])
            rows.append(
                (
                    policy["name"] if index == 1 else "",
                    index,
                    targets,
                    level["mode"],
                    f"{level['delay_minutes']} min",
                    policy["repeat"] if index == 1 else "",
                )
            )
    table(
        "Escalation policies", ["policy", "level", "targets", "mode", "then wait", "repeat"], rows
    )


@notify_app.command("test")
def notify_test(
    user: Annotated[str, typer.Option(help="User id, email, or the name before the @.")],
    json_output: JsonOption = False,
) -> None:
    """Send a test to each of a user's contact methods and report each result."""
    client = _client()
    user_id = user_id_of(client, user)
    results = client.post(f"/api/v1/users/{user_id}/notification-test")
    if json_output:
        print_json(results)
        return
    if not results:
        raise CliError(f"{user} has no contact methods")
    table(
        f"Test notifications to {user}",
        ["method", "address", "result"],
        [
            (r["kind"], r["address"], "sent" if r["ok"] else f"failed: {r['error']}")
            for r in results
        ],
    )
    if not all(r["ok"] for r in results):
        raise typer.Exit(1)


def escalate(
    number: int,
    level: Annotated[int, typer.Option(min=1, help="The level to page now (1 = first).")],
    json_output: JsonOption = False,
) -> None:
    """Page a chosen escalation level now."""
    incident = _client().post(f"/api/v1/incidents/{number}/escalate", json={"level": level})
    if json_output:
        print_json(incident)
    else:
        console.print(f"#{number} escalated to level {level}")


def reassign(
    number: int,
    user: Annotated[str | None, typer.Option(help="Hand it to this person (paged now).")] = None,
    policy: Annotated[
        int | None, typer.Option(help="Hand it to this escalation policy id.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Reassign an incident to a person or another escalation policy."""
    client = _client()
    body: dict[str, Any] = {}
    if user:
        body["user_id"] = user_id_of(client, user)
    if policy is not None:
        body["escalation_policy_id"] = policy
    incident = client.post(f"/api/v1/incidents/{number}/reassign", json=body)
    if json_output:
        print_json(incident)
    else:
        console.print(f"#{number} reassigned")


def plan(number: int, json_output: JsonOption = False) -> None:
    """The escalation plan: who each coming level reaches, and when."""
    escalation = _client().get(f"/api/v1/incidents/{number}/escalation")
    if json_output:
        print_json(escalation)
        return
    console.print(f"#{number}: escalation {escalation['state']}")
    for step in escalation["plan"]:
        repeat = f" (repeat {step['cycle']})" if step["cycle"] else ""
        console.print(
            f"  level {step['level']}{repeat} — {', '.join(step['targets']) or 'nobody'} "
            f"at {local_time(step['at'])} if not acknowledged"
        )
