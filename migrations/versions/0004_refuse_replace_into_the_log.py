"""Refuse, in the schema, an insert that would replace a stored event (SQLite's REPLACE and INSERT OR REPLACE).

SQLite resolves a REPLACE conflict by deleting the stored row first, and it
runs no DELETE trigger for that implicit delete unless the connection turned
``recursive_triggers`` on: ``REPLACE INTO events ...`` rewrote a stored row
despite the append-only triggers of 0001. A BEFORE INSERT trigger now refuses
any row whose sequence number, event id, or stream version is already stored,
before any conflict resolution runs; an upsert (``ON CONFLICT DO UPDATE``) is
refused the same way. The ledger's own appends never collide (their checks
run first), so for them the trigger only costs three index probes per row.

PostgreSQL has no REPLACE; its upsert's update path fires the UPDATE trigger
of 0001, and TRUNCATE has its own trigger there. This revision changes nothing
on PostgreSQL.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_SQLITE_TRIGGER = """
CREATE TRIGGER events_no_replace BEFORE INSERT ON events
WHEN EXISTS (SELECT 1 FROM events WHERE seq = NEW.seq)
  OR EXISTS (SELECT 1 FROM events WHERE event_id = NEW.event_id)
  OR EXISTS (SELECT 1 FROM events WHERE stream = NEW.stream AND stream_version = NEW.stream_version)
BEGIN
  SELECT RAISE(ABORT, 'the event log is append-only: an insert that would replace a stored event is refused');
END
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(_SQLITE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS events_no_replace")
