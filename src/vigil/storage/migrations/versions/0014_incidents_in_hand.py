"""An index of the incidents someone has in hand

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 23:15:00

Every five seconds the engine looks for acknowledged incidents past their service's ack timeout
and for SEV1/SEV2 incidents in hand whose stakeholder update is overdue. Both read every
incident ever opened: after ungrouped alert storms had opened a few hundred thousand, each look
took 15–35 ms, and on SQLite it holds the write lock, so inbound alerts waited. The index holds
only incidents neither triggered nor resolved, so new incidents cost it nothing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As `vigil.incidents.models.IN_HAND_SQL` was when this revision was written.
_IN_HAND = "status NOT IN ('triggered', 'resolved')"


def upgrade() -> None:
    op.create_index(
        "ix_incidents_in_hand",
        "incidents",
        ["status", "severity"],
        sqlite_where=sa.text(_IN_HAND),
        postgresql_where=sa.text(_IN_HAND),
    )


def downgrade() -> None:
    op.drop_index("ix_incidents_in_hand", table_name="incidents")
