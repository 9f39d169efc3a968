"""Migrations: one head, upgrade on an empty database, and models that match the migrations."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from tests.live.harness import PG_URL, DatabaseFactory
from vigil.errors import SchemaOutOfDate
from vigil.models import Base
from vigil.storage import migrate
from vigil.storage.db import make_engine


def test_there_is_exactly_one_migration_head() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def test_upgrade_reaches_head_on_an_empty_database(engine: sa.Engine) -> None:
    assert migrate.current_revision(engine) == migrate.head_revision()
    migrate.check_schema(engine)


def test_models_match_migrations(engine: sa.Engine) -> None:
    dialect = engine.dialect.name

    def built_here(item: object, _name: object, _type: str, reflected: bool, _to: object) -> bool:
        """Leave out what the models build on another database only (`ddl_if`), which
        Alembic's comparison does not know of."""
        only_on = getattr(getattr(item, "_ddl_if", None), "dialect", None)
        return reflected or only_on in (None, dialect)

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": False, "include_object": built_here}
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SchemaOutOfDate, match="vigil db upgrade"):
        migrate.check_schema(engine)


def test_every_id_sequence_has_the_name_ingest_draws_from(engine: sa.Engine) -> None:
    """Ingest draws ids from `<table>_id_seq` by name (`vigil.storage.driver.id_sequence`): a
    table renamed by a migration would keep its old sequence, and this says so first."""
    if engine.dialect.name != "postgresql":
        pytest.skip("sequences are PostgreSQL's")
    tables = [t.name for t in Base.metadata.sorted_tables if "id" in t.c and t.c.id.primary_key]
    with engine.connect() as conn:
        found = {
            table: conn.execute(
                sa.text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table}
            ).scalar_one()
            for table in tables
        }
    # Tables whose id has no sequence of its own (set by the application) are left out.
    named = {table: sequence for table, sequence in found.items() if sequence is not None}
    assert named, "no table has an id sequence"
    assert {t: s.removeprefix("public.") for t, s in named.items()} == {
        t: f"{t}_id_seq" for t in named
    }
    assert {"alerts", "incidents"} <= set(named)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrading_takes_the_routing_key_out_of_stored_pagerduty_payloads(
    backend: str, tmp_path: Path
) -> None:
    """Migration 0015: a secret kept before ingest left it out is gone after the upgrade; the
    rest of the payload, and other formats' payloads, stay as they were."""
    if backend == "postgresql" and PG_URL is None:
        pytest.skip("PostgreSQL: set VIGIL_TEST_DATABASE_URL")
    databases = DatabaseFactory(backend, tmp_path)
    try:
        url = databases.create().database_url
        migrate.upgrade(url, "0014")
        engine = make_engine(url)
        pagerduty = {"routing_key": "k" * 32, "event_action": "trigger", "payload": {"a": 1}}
        generic = {"routing_key": "not a secret here", "summary": "x"}
        insert = sa.text(
            "INSERT INTO alerts (id, service_id, dedup_key, status, summary, severity, source,"
            " integration_type, labels, details, links, starts_at, first_seen_at, last_seen_at,"
            " event_count, raw_payload) VALUES (:id, 1, :key, 'firing', 's', 'SEV1', '', :type,"
            " '{}', '{}', '[]', :at, :at, :at, 1, :raw)"
        )
        at = datetime(2026, 12, 5, tzinfo=UTC)
        with engine.begin() as conn:
            for alert_id, kind, raw in ((1, "pagerduty", pagerduty), (2, "generic", generic)):
                conn.execute(
                    insert,
                    {"id": alert_id, "key": kind, "type": kind, "at": at, "raw": json.dumps(raw)},
                )
        migrate.upgrade(url, "head")
        with engine.connect() as conn:
            stored = dict(conn.execute(sa.text("SELECT id, raw_payload FROM alerts")).all())
        engine.dispose()
        loaded = {n: v if isinstance(v, dict) else json.loads(v) for n, v in stored.items()}
        assert loaded == {1: {"event_action": "trigger", "payload": {"a": 1}}, 2: generic}
    finally:
        databases.drop_all()
