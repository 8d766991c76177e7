"""Bind each whole-ledger snapshot to the log: its digest is stored in the row of the event it was taken after.

A ledger without a key could not trust any snapshot (a user with rights on
the snapshot table alone could forge one that credits an account), so every
append replayed the whole log: one line appended to a million events took
seconds. Now the append that makes a whole-ledger snapshot due writes the
snapshot's digest (sha256 over its scope, point, format and content) into
``events.snapshot_digest`` of its last row, in the same transaction; the
database refuses to rewrite that row (the append-only triggers of 0001 and
0004). A snapshot is used without a key only when the log holds its digest;
with a key its seal is still required. ``verify`` names a snapshot whose
digest the log does not hold.

The column is not part of the chain's hashed bytes: the chain's format is
unchanged (no new chain version), every stored row keeps its hash, and old
rows have no digest (their snapshots are simply not used without a key).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column(
        "snapshot_digest", sa.String(64), nullable=True,
        comment="sha256 binding the whole-ledger snapshot taken after this event (null: none)"))


def downgrade() -> None:
    bound = op.get_bind().execute(sa.text("SELECT count(*) FROM events WHERE snapshot_digest IS NOT NULL")).scalar()
    if bound:
        raise RuntimeError(f"refusing to downgrade: {bound} events bind a snapshot's digest, part of the log kept "
                           "forever (to discard a ledger, drop its database)")
    op.execute("ALTER TABLE events DROP COLUMN snapshot_digest")  # SQLite 3.35+ and PostgreSQL alike
