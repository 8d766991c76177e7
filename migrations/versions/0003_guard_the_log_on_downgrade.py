"""Guard the log on the way down: no downgrade runs while the log holds an event.

Downgrading past 0001 drops the events table, and with it the history the
ledger exists to keep forever. This revision changes nothing on the way up;
on the way down it refuses while any event is stored, before any older
revision's downgrade can run (the whole downgrade is one transaction, so
nothing is dropped). No flag lifts this: whoever means to destroy a log
drops the database.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: the guard lives in ``downgrade``."""


def downgrade() -> None:
    stored = op.get_bind().execute(sa.text("SELECT max(seq) FROM events")).scalar()
    if stored:
        raise RuntimeError(
            f"refusing to downgrade: the event log holds {stored} events, and downgrading would drop it; "
            "the log is kept forever (to discard a ledger, drop its database)"
        )
