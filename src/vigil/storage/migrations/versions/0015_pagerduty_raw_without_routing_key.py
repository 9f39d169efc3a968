"""PagerDuty events' raw payloads without their routing key

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 02:45:00

A PagerDuty event's `routing_key` is its service's integration key: kept in the alert's raw
payload, anyone who could read the alert (observers included) could raise alerts as the service.
Ingest leaves it out from now on (`vigil.integrations.pagerduty`); this takes it out of the
payloads stored before. It cannot be put back.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE alerts SET raw_payload = raw_payload - 'routing_key'"
            " WHERE integration_type = 'pagerduty' AND raw_payload ->> 'routing_key' IS NOT NULL"
        )
    else:
        op.execute(
            "UPDATE alerts SET raw_payload = json_remove(raw_payload, '$.routing_key')"
            " WHERE integration_type = 'pagerduty'"
            " AND json_type(raw_payload, '$.routing_key') IS NOT NULL"
        )


def downgrade() -> None:
    """Nothing to do: the keys taken out are gone, and a payload without one is valid."""
