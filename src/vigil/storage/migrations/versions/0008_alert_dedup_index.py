"""one index on (service, dedup key) for firing and resolved alerts

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 07:35:00

Alerts had two indexes on (service_id, dedup_key): a partial unique one over firing alerts (the
dedup backstop) and a plain one (for resolved alerts). Dedup keys are hashes, so each new alert
went to a random page of both. One unique index on (service_id, dedup_key, open_marker), where
the computed open_marker is 1 while the alert fires and NULL after (NULLs never collide), does
both jobs: a third less SQLite work per new alert in a storm.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_MARKER_SQL = "CASE WHEN status = 'firing' THEN 1 END"


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("open_marker", sa.Integer(), sa.Computed(OPEN_MARKER_SQL), nullable=True)
        )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(
            "uq_alerts_service_dedup_key_open",
            ["service_id", "dedup_key", "open_marker"],
            unique=True,
        )
        batch_op.drop_index("uq_alerts_open_dedup_key")
        batch_op.drop_index("ix_alerts_service_dedup_key")


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alerts_service_dedup_key", ["service_id", "dedup_key"], unique=False
        )
        batch_op.create_index(
            "uq_alerts_open_dedup_key",
            ["service_id", "dedup_key"],
            unique=True,
            sqlite_where=sa.text("status = 'firing'"),
            postgresql_where=sa.text("status = 'firing'"),
        )
        batch_op.drop_index("uq_alerts_service_dedup_key_open")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("open_marker")
