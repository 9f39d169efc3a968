"""an incident's firing alerts found without reading its resolved ones

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:30:00

Whether an incident still has a firing alert was answered by reading its alerts in order until
one fired. As a storm of N alerts resolved in batches, each batch read past every alert resolved
before it: N²/2 rows in all, and a resolve commit of 100 alerts grew from 8 to 19 ms over the
first 20,000 on SQLite. The incident index now holds `open_marker` (1 while firing) after the
incident, so the question is one lookup; the index is as large as before.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alerts_incident_id_open", ["incident_id", "open_marker"], unique=False
        )
        batch_op.drop_index("ix_alerts_incident_id")


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_incident_id", ["incident_id"], unique=False)
        batch_op.drop_index("ix_alerts_incident_id_open")
