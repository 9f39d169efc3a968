"""Printing for the CLI: Rich tables for people, `--json` for scripts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    print(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode())


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    out = Table(title=title, show_lines=False)
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*("" if cell is None else str(cell) for cell in row))
    console.print(out)


def local_time(value: str | datetime | None, zone: str | None = None) -> str:
    """An API timestamp in the viewer's time zone (the machine's, unless given)."""
    if value is None or value == "":
        return "—"
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    local = when.astimezone(ZoneInfo(zone)) if zone else when.astimezone()
    return local.strftime("%Y-%m-%d %H:%M %Z")


def actor(event: dict[str, Any]) -> str:
    """Who made a timeline entry: the person's name (from a server before names: their id),
    or Vigil for its own."""
    return str(event.get("actor_name") or event.get("actor_user_id") or "vigil")
