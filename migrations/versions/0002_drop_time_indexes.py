"""Drop the secondary indexes on business and recorded time.

As-of by business time is a binary search over the sequence (business time
never decreases along the log), and recorded-time questions replay the log in
order anyway, so these two indexes only slowed every append.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_events_at", table_name="events")
    op.drop_index("ix_events_recorded_at", table_name="events")


def downgrade() -> None:
    op.create_index("ix_events_recorded_at", "events", ["recorded_at"])
    op.create_index("ix_events_at", "events", ["at"])
