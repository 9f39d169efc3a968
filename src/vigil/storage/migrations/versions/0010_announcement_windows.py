"""stakeholder channels hear of an alert storm's incidents in a digest

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 17:00:00

An ungrouped alert storm opened an incident per alert, and the stakeholder rule for its severity
sent the executives' list an email per incident: 12,000 emails in four seconds in the ingest
benchmark, each also a row for the worker to send and a timeline entry. Each stakeholder channel
now hears of the first few alert-opened incidents of each window individually and of the rest in
one digest; this table counts them per channel and window.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "announcement_windows",
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened", sa.Integer(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("digested", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel_destinations.id"],
            name=op.f("fk_announcement_windows_channel_id_channel_destinations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel_id", "window_start", name=op.f("pk_announcement_windows")),
    )


def downgrade() -> None:
    op.drop_table("announcement_windows")
