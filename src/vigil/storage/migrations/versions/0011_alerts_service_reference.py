"""alerts refer to their service without a foreign key

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 08:15:00

PostgreSQL checks a foreign key once per inserted row, with a query that locks the referenced
row: COPYing 1,600 new alerts, the two foreign keys of `alerts` were about 40% of the statement
(20.8 µs a row against 12.9 without them). The reference to the service needs no such check:
alerts are written only by ingest, which holds its service locked (`FOR NO KEY UPDATE`) for the
whole transaction, and a service is deleted only by `delete_service`, which locks it first and
deletes its alerts itself. The reference to the incident keeps its foreign key: merges move
alerts between incidents of different services, and it clears them when an incident goes.

SQLite cannot drop a constraint: the table is rebuilt, by hand, because Alembic's batch mode
copies rows into the generated column `open_marker`.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SERVICE_FK = (
    "CONSTRAINT fk_alerts_service_id_services FOREIGN KEY(service_id)"
    " REFERENCES services (id) ON DELETE CASCADE"
)
_COLUMNS = (
    "id, service_id, incident_id, dedup_key, status, summary, severity, source,"
    " integration_type, labels, details, links, group_key, starts_at, first_seen_at,"
    " last_seen_at, expires_at, event_count, acknowledged_at, resolved_at, raw_payload"
)


def _sqlite_table(name: str, *, service_fk: bool) -> str:
    constraints = [
        "CONSTRAINT pk_alerts PRIMARY KEY (id)",
        "CONSTRAINT fk_alerts_incident_id_incidents FOREIGN KEY(incident_id)"
        " REFERENCES incidents (id) ON DELETE SET NULL",
        *([_SERVICE_FK] if service_fk else []),
    ]
    return (
        f"CREATE TABLE {name} (id INTEGER NOT NULL, service_id INTEGER NOT NULL,"
        " incident_id INTEGER, dedup_key VARCHAR(255) NOT NULL, status VARCHAR(16) NOT NULL,"
        " summary VARCHAR(1024) NOT NULL, severity VARCHAR(8) NOT NULL,"
        " source VARCHAR(255) NOT NULL, integration_type VARCHAR(32) NOT NULL,"
        " labels JSON NOT NULL, details JSON NOT NULL, links JSON NOT NULL,"
        " group_key VARCHAR(1024), starts_at DATETIME NOT NULL,"
        " first_seen_at DATETIME NOT NULL, last_seen_at DATETIME NOT NULL,"
        " expires_at DATETIME, event_count INTEGER NOT NULL, acknowledged_at DATETIME,"
        " resolved_at DATETIME, raw_payload JSON,"
        " open_marker INTEGER GENERATED ALWAYS AS (CASE WHEN status = 'firing' THEN 1 END), "
        + ", ".join(constraints)
        + ")"
    )


def _rebuild_sqlite(*, service_fk: bool) -> None:
    op.execute(_sqlite_table("alerts_rebuilt", service_fk=service_fk))
    op.execute(f"INSERT INTO alerts_rebuilt ({_COLUMNS}) SELECT {_COLUMNS} FROM alerts")
    op.execute("DROP TABLE alerts")
    op.execute("ALTER TABLE alerts_rebuilt RENAME TO alerts")
    op.execute(
        "CREATE INDEX ix_alerts_expires_at ON alerts (expires_at)"
        " WHERE status = 'firing' AND expires_at IS NOT NULL"
    )
    op.execute(
        "CREATE UNIQUE INDEX uq_alerts_service_dedup_key_open"
        " ON alerts (service_id, dedup_key, open_marker)"
    )
    op.execute("CREATE INDEX ix_alerts_incident_id_open ON alerts (incident_id, open_marker)")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(service_fk=False)
    else:
        op.drop_constraint("fk_alerts_service_id_services", "alerts", type_="foreignkey")


def downgrade() -> None:
    # Alerts of services deleted since have no service to refer to.
    op.execute("DELETE FROM alerts WHERE service_id NOT IN (SELECT id FROM services)")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(service_fk=True)
    else:
        op.create_foreign_key(
            "fk_alerts_service_id_services",
            "alerts",
            "services",
            ["service_id"],
            ["id"],
            ondelete="CASCADE",
        )
