"""SQLite looks dedup keys up in two tiers instead of one unique index

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 20:30:00

Each new alert's key went to a random page of `uq_alerts_service_dedup_key_open`, and each such
page was written to the write-ahead log at commit: about 10 µs of the ingest writer's 24 µs per
alert in a storm. On SQLite, keys of recent alerts are now kept in memory by the processes that
ingest, and merged into `alert_keys` (clustered on service, key and alert id) in sorted batches;
`alert_key_merges` holds the watermark between the tiers (`vigil.alerts.dedup`). Every existing
alert is merged here. PostgreSQL keeps its unique index (its writers run concurrently); it gets
the two tables, empty, so that both databases have one schema.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_keys",
        sa.Column("service_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("dedup_key", sa.String(length=255), nullable=False),
        sa.Column("alert_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("service_id", "dedup_key", "alert_id", name="pk_alert_keys"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "alert_key_merges",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("merged_upto", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_key_merges"),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "INSERT INTO alert_keys (service_id, dedup_key, alert_id)"
            " SELECT service_id, dedup_key, id FROM alerts ORDER BY service_id, dedup_key, id"
        )
        op.execute(
            "INSERT INTO alert_key_merges (id, merged_upto, generation)"
            " SELECT 1, COALESCE(MAX(id), 0), 0 FROM alerts"
        )
        op.drop_index("uq_alerts_service_dedup_key_open", table_name="alerts")
    else:
        op.execute("INSERT INTO alert_key_merges (id, merged_upto, generation) VALUES (1, 0, 0)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE UNIQUE INDEX uq_alerts_service_dedup_key_open"
            " ON alerts (service_id, dedup_key, open_marker)"
        )
    op.drop_table("alert_key_merges")
    op.drop_table("alert_keys")
