"""The `vigil` entry point: wires the command groups and turns every failure into one line."""

from __future__ import annotations

import sys

import typer
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from vigil.cli import admin, command, paging, remote, schedules
from vigil.cli.client import CliError
from vigil.cli.output import err_console
from vigil.errors import VigilError

app = typer.Typer(
    help="Vigil: alerts in, incidents out, the right person paged.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(admin.serve)
app.command()(admin.worker)
app.command(hidden=True)(admin.ingest_writer)
app.command()(admin.demo)
app.add_typer(admin.db_app, name="db")
app.add_typer(admin.token_app, name="token")
app.add_typer(admin.user_app, name="user")
app.add_typer(remote.service_app, name="service")
app.add_typer(remote.alert_app, name="alert")
app.add_typer(remote.incident_app, name="incident")
app.add_typer(schedules.oncall_app, name="oncall")
app.add_typer(schedules.schedule_app, name="schedule")
app.add_typer(paging.policy_app, name="policy")
app.add_typer(paging.notify_app, name="notify")
remote.incident_app.command("escalate")(paging.escalate)
remote.incident_app.command("reassign")(paging.reassign)
remote.incident_app.command("plan")(paging.plan)
for name in ("declare", "status", "role", "update", "task", "timeline", "merge", "impact"):
    remote.incident_app.command(name)(getattr(command, name))


def main() -> None:
    """Run the CLI; errors are one clear line and exit code 1, never a traceback."""
    try:
        app()
    except (CliError, VigilError) as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "input"
        err_console.print(
            f"error: {field}: {first['msg']}", markup=False, highlight=False, soft_wrap=True
        )
        sys.exit(1)
    except OperationalError as exc:
        reason = " ".join(str(exc.orig).split())
        err_console.print(f"error: database unavailable: {reason}", markup=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
