"""alert indexes for refire and late-duplicate checks

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 16:22:02.659670
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_incident_id"))
        batch_op.create_index("ix_alerts_incident_id", ["incident_id", "dedup_key"], unique=False)
        batch_op.create_index(
            "ix_alerts_service_dedup_key", ["service_id", "dedup_key"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_service_dedup_key")
        batch_op.drop_index("ix_alerts_incident_id")
        batch_op.create_index(batch_op.f("ix_alerts_incident_id"), ["incident_id"], unique=False)
