"""An index of the rare rows: the log's liquidations, bankruptcies, activations and listings, without a scan.

``ledger liquidations``, ``bankruptcies``, the HTML report and a sweep's base
params read the rows of a few rare kinds; with no index on ``type`` each of
them read the whole log (at a million events, the whole database file). The
index is partial: it holds only the rows not of the four kinds nearly every
row is of (deposit, mark, trade, withdrawal), so it stays as small as the rare
rows, and an append of a common row does not touch it. Queries that use it
repeat its predicate word for word (``ledger.store.schema.RARE_ROWS``), as
SQLite needs; four comparisons rather than ``NOT IN (...)``, which SQLite
evaluates by building a small table for every inserted row.

Building it reads the log once (a few seconds at ten million events); on
PostgreSQL it holds off writers meanwhile, like any ``CREATE INDEX`` in a
migration's transaction. Nothing stored changes: no row, no hash.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_RARE_ROWS = "type <> 'deposit' AND type <> 'mark' AND type <> 'trade' AND type <> 'withdrawal'"
"""Frozen here as written (a migration never imports the code that may change after it)."""


def upgrade() -> None:
    op.create_index("ix_events_rare", "events", ["type", "seq"],
                    sqlite_where=sa.text(_RARE_ROWS), postgresql_where=sa.text(_RARE_ROWS))


def downgrade() -> None:
    op.drop_index("ix_events_rare", table_name="events")
