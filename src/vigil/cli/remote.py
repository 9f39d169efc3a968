"""Everyday commands that talk to a Vigil server's API, as kubectl or gh do."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from vigil.cli.client import ApiClient, CliError
from vigil.cli.output import actor, console, local_time, print_json, table
from vigil.config import get_settings
from vigil.services.snippets import config_snippets

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

service_app = typer.Typer(help="Services and their integration keys.", no_args_is_help=True)
alert_app = typer.Typer(help="Send alerts.", no_args_is_help=True)
incident_app = typer.Typer(help="Incidents.", no_args_is_help=True)


def _client() -> ApiClient:
    return ApiClient(get_settings())


def _active_keys(client: ApiClient, ref: str) -> list[dict[str, Any]]:
    """The unrevoked integration keys of the service named (or numbered) `ref`."""
    services = client.get("/api/v1/services")
    match = next((s for s in services if s["name"] == ref or str(s["id"]) == ref), None)
    if match is None:
        raise CliError(f"service {ref!r} not found")
    return [k for k in match["integration_keys"] if not k.get("revoked_at")]


@service_app.command("create")
def service_create(
    name: str,
    description: Annotated[str, typer.Option(help="What the service is.")] = "",
    team: Annotated[int | None, typer.Option(help="Owning team id.")] = None,
    grouping: Annotated[
        str, typer.Option(help="none, labels or as_sent: how alerts become incidents.")
    ] = "labels",
    group_by: Annotated[
        list[str] | None, typer.Option(help="Label to group by (repeatable).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Create a service and print its keys, URLs and config snippets for every sender."""
    body: dict[str, Any] = {
        "name": name,
        "description": description,
        "team_id": team,
        "grouping_mode": grouping,
        "group_by": group_by or ["alertname"],
        "integration_types": ["generic", "alertmanager", "grafana", "prometheus", "pagerduty"],
    }
    client = _client()
    service = client.post("/api/v1/services", json=body)
    if json_output:
        print_json(service)
        return
    console.print(f"[bold]Service {service['name']}[/bold] (id {service['id']}) created.\n")
    for key in service["integration_keys"]:
        snippet = config_snippets(client.base_url, key["key"])[key["type"]]
        console.print(f"[bold]{key['type']}[/bold]  key {key['key']}", soft_wrap=True)
        console.print(snippet, markup=False, highlight=False, soft_wrap=True)


@service_app.command("key")
def service_key(
    name: str,
    kind: Annotated[
        str, typer.Option("--type", help="generic, alertmanager, grafana, prometheus, pagerduty.")
    ] = "generic",
) -> None:
    """Print one integration key of a service, for scripts: `curl .../$(vigil service key X)`."""
    keys = _active_keys(_client(), name)
    chosen = next((k for k in keys if k["type"] == kind), None)
    if chosen is None:
        raise CliError(f"service {name!r} has no active {kind} key")
    print(chosen["key"])


@service_app.command("list")
def service_list(json_output: JsonOption = False) -> None:
    """Services with their integration keys and URLs."""
    services = _client().get("/api/v1/services")
    if json_output:
        print_json(services)
        return
    rows = []
    for service in services:
        for key in service["integration_keys"] or [{"type": "—", "key": "", "urls": {}}]:
            if key.get("revoked_at"):
                continue
            rows.append(
                (
                    service["id"],
                    service["name"],
                    service["grouping_mode"],
                    key["type"],
                    key["urls"].get(key["type"], ""),
                    key["key"],
                )
            )
    table("Services", ["id", "name", "grouping", "integration", "url", "key"], rows)


@alert_app.command("send")
def alert_send(
    service: Annotated[str, typer.Option(help="Service name or id.")],
    summary: Annotated[str, typer.Option(help="What is wrong.")],
    severity: Annotated[str, typer.Option(help="critical, error, warning or info.")] = "error",
    source: Annotated[str, typer.Option(help="The affected host or component.")] = "cli",
    dedup_key: Annotated[str | None, typer.Option(help="Same key, same alert.")] = None,
    action: Annotated[str, typer.Option(help="trigger, acknowledge or resolve.")] = "trigger",
    label: Annotated[list[str] | None, typer.Option(help="name=value (repeatable).")] = None,
    json_output: JsonOption = False,
) -> None:
    """Send an alert through the service's generic integration."""
    client = _client()
    keys = _active_keys(client, service)
    if not keys:
        raise CliError(f"service {service!r} has no active integration key")
    key = next((k for k in keys if k["type"] == "generic"), keys[0])["key"]
    labels = {}
    for item in label or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise CliError(f"--label {item!r}: expected name=value")
        labels[name] = value
    event: dict[str, Any] = {
        "summary": summary,
        "severity": severity,
        "source": source,
        "action": action,
        "labels": labels,
    }
    if dedup_key:
        event["dedup_key"] = dedup_key
    result = client.post(f"/integrations/generic/{key}", json=event)
    if json_output:
        print_json(result)
        return
    opened = result.get("incidents_opened") or []
    console.print(
        f"alert {action} accepted (dedup key {result['dedup_keys'][0]})"
        + (f"; opened incident #{opened[0]}" if opened else "")
    )


@incident_app.command("list")
def incident_list(
    status: Annotated[
        list[str] | None, typer.Option(help="triggered, acknowledged, resolved (repeatable).")
    ] = None,
    service: Annotated[str | None, typer.Option(help="Service name or id.")] = None,
    severity: Annotated[list[str] | None, typer.Option(help="SEV1..SEV4 (repeatable).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 25,
    json_output: JsonOption = False,
) -> None:
    """Incidents, newest first."""
    params: dict[str, Any] = {"limit": limit}
    if status:
        params["status"] = status
    if service:
        params["service"] = service
    if severity:
        params["severity"] = severity
    page = _client().get("/api/v1/incidents", params=params)
    if json_output:
        print_json(page)
        return
    table(
        "Incidents",
        ["#", "severity", "status", "title", "alerts", "created"],
        [
            (
                f"#{i['number']}",
                i["severity"],
                i["status"],
                i["title"],
                i["alert_count"],
                local_time(i["created_at"]),
            )
            for i in page["items"]
        ],
    )


@incident_app.command("show")
def incident_show(number: int, json_output: JsonOption = False) -> None:
    """One incident with its alerts and timeline."""
    incident = _client().get(f"/api/v1/incidents/{number}")
    if json_output:
        print_json(incident)
        return
    console.print(
        f"[bold]#{incident['number']} {incident['title']}[/bold]\n"
        f"{incident['severity']} · {incident['status']} · {incident['urgency']} urgency · "
        f"{incident['alert_count']} alert(s) · opened {local_time(incident['created_at'])}",
        markup=True,
        highlight=False,
    )
    table(
        "Alerts",
        ["id", "status", "severity", "summary", "events", "last seen"],
        [
            (
                a["id"],
                a["status"],
                a["severity"],
                a["summary"],
                a["event_count"],
                local_time(a["last_seen_at"]),
            )
            for a in incident["alerts"]
        ],
    )
    table(
        "Timeline",
        ["when", "what", "by", "message"],
        [(local_time(e["at"]), e["kind"], actor(e), e["message"]) for e in incident["timeline"]],
    )


def _act(path: str, json_output: bool, done: str, body: dict[str, Any] | None = None) -> None:
    incident = _client().post(path, json=body)
    if json_output:
        print_json(incident)
    else:
        console.print(done.format(**incident) if isinstance(incident, dict) else done)


@incident_app.command("ack")
def incident_ack(number: int, json_output: JsonOption = False) -> None:
    """Acknowledge an incident."""
    _act(f"/api/v1/incidents/{number}/acknowledge", json_output, "#{number} acknowledged")


@incident_app.command("resolve")
def incident_resolve(
    number: int,
    note: Annotated[str, typer.Option(help="Why it is resolved.")] = "",
    json_output: JsonOption = False,
) -> None:
    """Resolve an incident and its firing alerts."""
    _act(f"/api/v1/incidents/{number}/resolve", json_output, "#{number} resolved", {"note": note})


@incident_app.command("note")
def incident_note(number: int, text: str, json_output: JsonOption = False) -> None:
    """Add a note to an incident's timeline."""
    _act(f"/api/v1/incidents/{number}/notes", json_output, "note added", {"text": text})


@incident_app.command("severity")
def incident_severity(
    number: int,
    severity: str,
    reason: Annotated[str, typer.Option(help="Why; it goes on the timeline.")] = "",
    json_output: JsonOption = False,
) -> None:
    """Set an incident's severity (SEV1..SEV4)."""
    _act(
        f"/api/v1/incidents/{number}/severity",
        json_output,
        "#{number} is now {severity}",
        {"severity": severity.upper(), "reason": reason},
    )
