"""The ingest writer's statements, planned once for all values, read the growing tables by index.

On PostgreSQL the ingest writer lets the server keep one plan per prepared statement (a generic
plan) instead of planning every run anew (`vigil.storage.db.PG_INGEST_WRITER_PLANNING`). A
generic plan is made from the statistics of its day and kept: one made while the tables were
nearly empty, when reading a whole table costs nothing, would stay a full scan as they grow, and
an alert storm would slow down with every commit. This runs one commit of each kind (new grouped
alerts, repeats, acknowledgements and resolves, new incidents that notify a channel), records
every statement PostgreSQL ran, analyzes the tables while they are nearly empty (the worst
moment), and plans each statement, and each foreign-key check, generically with the writer's
settings: every read of a growing table must be an index lookup.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.conftest import T0
from vigil.alerts.events import Action, AlertEvent
from vigil.config import Settings
from vigil.incidents import comms
from vigil.incidents.comms import command_config
from vigil.integrations.ingest import ingest_requests
from vigil.notify import service as notify
from vigil.notify.schemas import ChannelCreate
from vigil.notify.service import LinkConfig
from vigil.services import service as services
from vigil.storage.db import PG_INGEST_WRITER_PLANNING

# Tables that grow with the alerts and incidents; the others hold configuration.
_GROWING = {
    "alerts",
    "incidents",
    "incident_events",
    "incident_escalations",
    "incident_followers",
    "incident_links",
    "incident_roles",
    "incident_tasks",
    "notifications",
    "status_updates",
    "change_events",
}
_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%[sbt]")
_NOT_PLANNED = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "COPY", "SET", "SHOW")
# PostgreSQL's own text of a foreign-key check (ri_triggers.c), planned like any statement.
_FOREIGN_KEYS = """
SELECT cl.relname, a.attname FROM pg_constraint c
JOIN pg_class cl ON cl.oid = c.confrelid
JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = c.confkey[1]
WHERE c.contype = 'f' AND cardinality(c.confkey) = 1
"""
_LEADING_COLUMNS = """
SELECT ic.relname, a.attname FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
"""


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every statement text sent to PostgreSQL while the test runs, but for those sent
    unprepared (`prepare=False`: planned for their values at each run)."""
    seen: list[str] = []
    execute, execute_many = psycopg.Cursor.execute, psycopg.Cursor.executemany

    def recording_execute(self: psycopg.Cursor[Any], query: Any, *args: Any, **kw: Any) -> Any:
        if kw.get("prepare") is not False:
            seen.append(str(query))
        return execute(self, query, *args, **kw)

    def recording_many(self: psycopg.Cursor[Any], query: Any, *args: Any, **kw: Any) -> Any:
        seen.append(str(query))
        return execute_many(self, query, *args, **kw)

    monkeypatch.setattr(psycopg.Cursor, "execute", recording_execute)
    monkeypatch.setattr(psycopg.Cursor, "executemany", recording_many)
    yield seen


def _event(key: str, action: Action = Action.TRIGGER) -> AlertEvent:
    return AlertEvent(
        action=action,
        dedup_key=key,
        integration_type="prometheus",
        summary=f"{key} is down",
        severity="critical",
        labels={"alertname": "InstanceDown", "instance": key},
        details={"annotations": {"summary": "down"}},
        starts_at=T0,
    )


def _numbered(text: str) -> tuple[str, int]:
    """The statement with PostgreSQL's own `$n` placeholders, and how many it has."""
    names: dict[str, int] = {}
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(1) is not None:
            if match.group(1) not in names:
                count += 1
                names[match.group(1)] = count
            return f"${names[match.group(1)]}"
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(number, text), count


def _full_reads(
    plan: dict[str, Any], leading: dict[str, str], relation: str | None = None
) -> list[str]:
    """What in the plan reads a growing table other than by an index lookup: a sequential
    scan, or an index scan whose condition does not hold its index's first column (which reads
    the whole index). `leading` is each index's first column."""
    found = []
    node = plan.get("Node Type", "")
    table = plan.get("Relation Name", relation)
    if node in ("Hash Join", "Merge Join"):
        found.append(node)
    if table in _GROWING:
        index = plan.get("Index Name")
        if node == "Seq Scan":
            found.append(f"Seq Scan on {table}")
        elif index and not re.search(rf"\b{leading[index]}\b", plan.get("Index Cond", "")):
            found.append(f"{node} reading all of {index}")
        elif index and not _names_a_row(plan.get("Index Cond", "")):
            found.append(f"{node} reading a whole service from {index}")
    for child in plan.get("Plans", []):
        # A bitmap index scan names no table: it reads for its parent's.
        found += _full_reads(child, leading, table if node == "Bitmap Heap Scan" else None)
    return found


_COMPARISON = re.compile(r"\(?(\w+)\)?(?:::[\w ]+)? = ([^)\s]+)")


def _names_a_row(condition: str) -> bool:
    """Whether an index condition compares a column besides the service to a value it is given
    (a parameter or another row's column): `service_id = $1 AND open_marker = 1` alone reads
    every firing alert of the service (as an anti-join planned while the table was empty did)."""
    return any(
        column != "service_id" and not value[0].isdigit() and not value.startswith("'")
        for column, value in _COMPARISON.findall(condition)
    )


def _generic_plan(cursor: psycopg.Cursor[Any], text: str, count: int) -> dict[str, Any]:
    cursor.execute(f"PREPARE vigil_generic AS {text}")
    try:
        nulls = ", ".join(["NULL"] * count)
        cursor.execute(f"EXPLAIN (FORMAT JSON) EXECUTE vigil_generic({nulls})")
        (document,) = cursor.fetchone()
    finally:
        cursor.execute("DEALLOCATE vigil_generic")
    plan: dict[str, Any] = document[0]["Plan"]
    return plan


def _run_every_kind_of_commit(session: Session, make_service: Any, settings: Settings) -> None:
    grouped = make_service(name="grouped", grouping_mode="labels", group_by=["alertname"])
    ungrouped = make_service(name="ungrouped", grouping_mode="none")
    channel = notify.create_channel(
        session,
        data=ChannelCreate(name="ops", kind="webhook", address="http://127.0.0.1:9/hook"),
        now=T0,
    )
    for severity in ("SEV1", "SEV2"):
        comms.create_stakeholder_rule(
            session, severity=severity, channel_id=channel.id, events=["declared"], now=T0
        )
    command = command_config(settings, LinkConfig(base_url=settings.base_url, secret="test"))

    def commit(service_id: int, *requests: list[AlertEvent]) -> None:
        key = services.list_integration_keys(session, service_id=service_id)[0].key
        ingest_requests(
            session,
            service=services.service_for_key(session, key=key, lock=True),
            requests=list(requests),
            now=T0,
            command=command,
            service_locked=True,
        )
        session.flush()

    commit(grouped.id, [_event("db-1"), _event("db-2")], [_event("db-3")])
    commit(grouped.id, [_event("db-1"), _event("db-2", Action.RESOLVE)], [_event("db-4")])
    commit(grouped.id, [_event("db-1", Action.ACKNOWLEDGE), _event("db-2")])
    commit(ungrouped.id, [_event("web-1"), _event("web-2")])
    commit(ungrouped.id, [_event("web-1", Action.RESOLVE), _event("web-2", Action.RESOLVE)])


def test_every_statement_of_an_ingest_commit_keeps_an_index_plan_for_all_values(
    session: Session,
    backend: str,
    make_service: Any,
    settings: Settings,
    statements: list[str],
) -> None:
    if backend != "postgresql":
        pytest.skip("a PostgreSQL planner question")
    statements.clear()
    _run_every_kind_of_commit(session, make_service, settings)
    ran = {text for text in statements if not text.lstrip().upper().startswith(_NOT_PLANNED)}
    assert len(ran) > 10  # the recording saw the commits' statements

    for table in sorted(_GROWING):
        session.execute(sa.text(f"ANALYZE {table}"))  # statistics of nearly empty tables
    foreign_keys = session.execute(sa.text(_FOREIGN_KEYS)).all()
    leading = dict(session.execute(sa.text(_LEADING_COLUMNS)).all())
    cursor = session.connection().connection.driver_connection.cursor()
    for name, value in re.findall(r"-c (\w+)=(\S+)", PG_INGEST_WRITER_PLANNING):
        cursor.execute(f"SET LOCAL {name} = {shlex.quote(value)}")
    cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")

    full_reads = {}
    for text in sorted(ran):
        numbered, count = _numbered(text)
        if count:  # a statement without values is planned anew at each run
            found = _full_reads(_generic_plan(cursor, numbered, count), leading)
            if found:
                full_reads[" ".join(text.split())[:150]] = found
    for table, column in foreign_keys:
        check = f'SELECT 1 FROM ONLY "{table}" x WHERE "{column}" = $1 FOR KEY SHARE OF x'
        found = _full_reads(_generic_plan(cursor, check, 1), leading)
        if found:
            full_reads[check] = found

    assert full_reads == {}, "\n".join(f"{text} -> {found}" for text, found in full_reads.items())
