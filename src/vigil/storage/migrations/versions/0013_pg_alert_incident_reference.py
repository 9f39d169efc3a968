"""PostgreSQL: alerts refer to their incident without a foreign key

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 21:10:00

PostgreSQL checks a foreign key once per inserted row with a query of its own (SPI): in a storm
of new alerts in batches of 100 that was 10% of the backend's time, the largest part of its COPY
after parsing JSON and the indexes. Ingest only refers to incidents it has just opened or found
open while it holds its service's lock, and incidents are deleted only with their service, whose
`delete_service` detaches other services' alerts from them first (what ON DELETE SET NULL did).
SQLite keeps the constraint: its check is a lookup in C, and dropping it means rebuilding the
table.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "fk_alerts_incident_id_incidents"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(_NAME, "alerts", type_="foreignkey")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE alerts SET incident_id = NULL WHERE incident_id IS NOT NULL"
            " AND incident_id NOT IN (SELECT id FROM incidents)"
        )
        op.create_foreign_key(
            _NAME, "alerts", "incidents", ["incident_id"], ["id"], ondelete="SET NULL"
        )
