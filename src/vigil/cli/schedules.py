"""Schedule commands over the API: who is on call, a schedule's timeline, edits and overrides."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table
from rich.text import Text

from vigil.cli.client import ApiClient, CliError
from vigil.cli.output import console, local_time, print_json, table
from vigil.config import get_settings

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ZoneOption = Annotated[
    str | None, typer.Option("--tz", help="Show times in this IANA zone (default: this machine's).")
]

oncall_app = typer.Typer(help="Who is on call.", invoke_without_command=True)
schedule_app = typer.Typer(help="On-call schedules.", no_args_is_help=True)


def _client() -> ApiClient:
    return ApiClient(get_settings())


def _users(client: ApiClient) -> dict[int, str]:
    return {u["id"]: u["name"] for u in client.get("/api/v1/users")}


def user_id_of(client: ApiClient, ref: str) -> int:
    """A user by id, email, or the name before the @."""
    users = client.get("/api/v1/users")
    for user in users:
        if ref == str(user["id"]) or ref.lower() in (user["email"], user["email"].split("@")[0]):
            return int(user["id"])
    raise CliError(f"user {ref!r} not found")


def _schedule(client: ApiClient, ref: str) -> dict[str, Any]:
    for schedule in client.get("/api/v1/schedules"):
        if ref in (schedule["name"], str(schedule["id"])):
            return schedule
    raise CliError(f"schedule {ref!r} not found")


@oncall_app.callback()
def oncall(ctx: typer.Context, json_output: JsonOption = False, tz: ZoneOption = None) -> None:
    """Who is on call now on every schedule."""
    if ctx.invoked_subcommand is not None:
        return
    entries = _client().get("/api/v1/oncall")
    if json_output:
        print_json(entries)
        return
    table(
        "On call now",
        ["schedule", "on call", "until"],
        [
            (e["schedule_name"], e["user_name"] or "nobody (gap)", local_time(e["until"], tz))
            for e in entries
        ],
    )


@oncall_app.command("report")
def oncall_report(
    since: Annotated[str, typer.Option(help="Start (ISO 8601; without offset: UTC).")],
    until: Annotated[str, typer.Option(help="End (ISO 8601; without offset: UTC).")],
    team: Annotated[int | None, typer.Option(help="Only this team's schedules.")] = None,
    json_output: JsonOption = False,
) -> None:
    """On-call load per person: hours, off-hours (outside 08:00–20:00 local), weekends, shifts."""
    params: dict[str, Any] = {"since": since, "until": until}
    if team is not None:
        params["team"] = team
    rows = _client().get("/api/v1/reports/oncall-load", params=params)
    if json_output:
        print_json(rows)
        return
    table(
        f"On-call load {since} → {until}",
        ["person", "hours on call", "off-hours", "weekend", "shifts"],
        [
            (
                r["user_name"],
                r["hours_on_call"],
                r["hours_off_hours"],
                r["hours_weekend"],
                r["shifts"],
            )
            for r in rows
        ],
    )


@oncall_app.command("gaps")
def oncall_gaps(tz: ZoneOption = None, json_output: JsonOption = False) -> None:
    """Times in the next 14 days when a schedule has nobody on call."""
    report = _client().get("/api/v1/reports/gaps")
    if json_output:
        print_json(report)
        return
    table(
        "Gaps in the next 14 days",
        ["schedule", "from", "to"],
        [
            (entry["schedule_name"], local_time(gap["start"], tz), local_time(gap["end"], tz))
            for entry in report
            for gap in entry["gaps"]
        ]
        or [("every schedule", "fully covered", "")],
    )


@schedule_app.command("list")
def schedule_list(json_output: JsonOption = False) -> None:
    """Schedules with their layers."""
    schedules = _client().get("/api/v1/schedules")
    if json_output:
        print_json(schedules)
        return
    table(
        "Schedules",
        ["id", "name", "time zone", "layers"],
        [
            (
                s["id"],
                s["name"],
                s["time_zone"],
                ", ".join(layer["name"] for layer in reversed(s["layers"])),
            )
            for s in schedules
        ],
    )


@schedule_app.command("show")
def schedule_show(
    name: str,
    days: Annotated[int, typer.Option(min=1, max=730, help="How many days ahead.")] = 14,
    tz: ZoneOption = None,
    json_output: JsonOption = False,
) -> None:
    """A readable timeline of who is on call, in your time zone, gaps included."""
    client = _client()
    schedule = _schedule(client, name)
    start = datetime.now().astimezone().replace(minute=0, second=0, microsecond=0)
    params = {
        "since": start.isoformat(),
        "until": (start + timedelta(days=days)).isoformat(),
        "layers": "true",
    }
    shifts = client.get(f"/api/v1/schedules/{schedule['id']}/shifts", params=params)
    if json_output:
        print_json(shifts)
        return
    names = _users(client)
    zone = ZoneInfo(tz) if tz else None
    out = Table(title=f"{schedule['name']} — next {days} days ({schedule['time_zone']} schedule)")
    for column in ("from", "to", "on call", "hours"):
        out.add_column(column)
    for shift in shifts["final"]:
        begin = datetime.fromisoformat(shift["start"])
        end = datetime.fromisoformat(shift["end"])
        who = (
            Text(names.get(shift["user_id"], str(shift["user_id"])))
            if shift["user_id"]
            else Text("nobody — gap", style="bold red")
        )
        out.add_row(
            _fmt(begin, zone), _fmt(end, zone), who, f"{(end - begin).total_seconds() / 3600:.1f}"
        )
    console.print(out)


def _fmt(when: datetime, zone: ZoneInfo | None) -> str:
    local = when.astimezone(zone) if zone else when.astimezone()
    return local.strftime("%a %d %b %H:%M %Z")


@schedule_app.command("create")
def schedule_create(
    name: str,
    time_zone: Annotated[str, typer.Option("--time-zone", help="IANA zone, e.g. Europe/Berlin.")],
    users: Annotated[list[str], typer.Option("--user", help="Participant in order (repeatable).")],
    rotation: Annotated[
        str, typer.Option(help="daily, weekly, or N{h,d,w} like 12h or 2w.")
    ] = "weekly",
    handoff: Annotated[str, typer.Option(help="Handoff time HH:MM, schedule-local.")] = "09:00",
    handoff_day: Annotated[str | None, typer.Option(help="Weekly handoff day, mon..sun.")] = None,
    start: Annotated[str | None, typer.Option(help="Layer start (ISO 8601; default now).")] = None,
    team: Annotated[int | None, typer.Option(help="Owning team id.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Create a schedule with one rotation layer."""
    client = _client()
    layer = {
        "name": "Primary rotation",
        "start": start
        or datetime.now(ZoneInfo(time_zone)).replace(tzinfo=None, microsecond=0).isoformat(),
        "participants": [user_id_of(client, u) for u in users],
        "rotation": _rotation(rotation),
        "handoff_time": handoff,
    }
    if handoff_day:
        layer["handoff_day"] = handoff_day
    body = {"name": name, "time_zone": time_zone, "team_id": team, "layers": [layer]}
    created = client.post("/api/v1/schedules", json=body)
    if json_output:
        print_json(created)
    else:
        console.print(f"schedule {created['name']} (id {created['id']}) created")


def _rotation(text: str) -> Any:
    if text in ("daily", "weekly"):
        return text
    units = {"h": "hours", "d": "days", "w": "weeks"}
    if len(text) >= 2 and text[:-1].isdigit() and text[-1] in units:
        return {"unit": units[text[-1]], "length": int(text[:-1])}
    raise CliError(f"--rotation {text!r}: use daily, weekly, or N followed by h, d or w (12h, 2w)")


@schedule_app.command("edit")
def schedule_edit(
    name: str,
    layer: Annotated[
        str | None, typer.Option(help="Layer name or id (default: the top one).")
    ] = None,
    users: Annotated[
        list[str] | None, typer.Option("--user", help="New participants in order (repeatable).")
    ] = None,
    rotation: Annotated[str | None, typer.Option(help="daily, weekly, or 12h / 2w.")] = None,
    handoff: Annotated[str | None, typer.Option(help="Handoff time HH:MM.")] = None,
    effective: Annotated[
        str | None, typer.Option(help="From when (ISO 8601; default now).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Change a layer from now (or --effective) on; the past stays as it was."""
    client = _client()
    schedule = _schedule(client, name)
    layers = schedule["layers"]
    if not layers:
        raise CliError(f"schedule {name!r} has no layers")
    chosen = (
        layers[-1]
        if layer is None
        else next((x for x in layers if layer in (x["name"], str(x["id"]))), None)
    )
    if chosen is None:
        raise CliError(f"layer {layer!r} not found on {name!r}")
    body: dict[str, Any] = {}
    if users:
        body["participants"] = [user_id_of(client, u) for u in users]
    if rotation:
        body["rotation"] = _rotation(rotation)
    if handoff:
        body["handoff_time"] = handoff
    if effective:
        body["effective_from"] = effective
    updated = client.request(
        "PATCH", f"/api/v1/schedules/{schedule['id']}/layers/{chosen['id']}", json=body
    )
    if json_output:
        print_json(updated)
    else:
        console.print(f"layer {updated['name']} of {schedule['name']} updated")


@schedule_app.command("override")
def schedule_override(
    name: str,
    user: Annotated[str, typer.Option(help="Who covers (id, email, or name before the @).")],
    start: Annotated[str, typer.Option(help="ISO 8601; without offset: the schedule's zone.")],
    end: Annotated[str, typer.Option(help="ISO 8601; without offset: the schedule's zone.")],
    replaces: Annotated[str | None, typer.Option(help="Whose shift this covers.")] = None,
    consent: Annotated[bool, typer.Option(help="The other member agreed.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Put someone on call for a time range (a cover or a swap)."""
    client = _client()
    schedule = _schedule(client, name)
    body: dict[str, Any] = {
        "user_id": user_id_of(client, user),
        "start": start,
        "end": end,
        "consent": consent,
    }
    if replaces:
        body["replaces_user_id"] = user_id_of(client, replaces)
        body["kind"] = "swap"
    created = client.post(f"/api/v1/schedules/{schedule['id']}/overrides", json=body)
    if json_output:
        print_json(created)
    else:
        console.print(
            f"override {created['id']}: {user} on call {local_time(created['start'])} → "
            f"{local_time(created['end'])}"
        )
