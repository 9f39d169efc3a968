"""alerts by incident in arrival order, so batches of alerts append to the index

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 06:40:00

0005 keyed the index on (incident_id, dedup_key) for the refire check. Dedup keys are hashes,
so every alert joining a big incident landed on its own index page: an alert storm rewrote
hundreds of pages per commit into the write-ahead log. The refire check now goes through
(service_id, dedup_key), and the incident index is the incident alone (in row order).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_incident_id")
        batch_op.create_index("ix_alerts_incident_id", ["incident_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_incident_id")
        batch_op.create_index("ix_alerts_incident_id", ["incident_id", "dedup_key"], unique=False)
