"""A seal row must name an event the log holds, with its hash: refused at insert otherwise.

A seal row ahead of the head (an INSERT-only attacker's) used to be taken by
the next keyed append as the last seal: that append went unsealed and
``verify`` failed forever after. Now the database refuses, before insert,
any seal whose ``seq_to`` is not a stored event carrying ``head_hash``. The
ledger's own seal is inserted after its rows in the same transaction, so it
always passes. Rows already stored are untouched; a seal past the head left
by an older release is named by ``verify`` and never believed by a writer.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_MESSAGE = "a seal must name an event the log holds, with its hash: refused"

_PG_FUNCTION = f"""
CREATE FUNCTION seals_name_stored_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM events WHERE seq = NEW.seq_to AND hash = NEW.head_hash) THEN
        RAISE EXCEPTION '{_MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute("CREATE TRIGGER seals_name_stored_events BEFORE INSERT ON seals "
                   "FOR EACH ROW EXECUTE FUNCTION seals_name_stored_events()")
    else:
        op.execute("CREATE TRIGGER seals_name_stored_events BEFORE INSERT ON seals "
                   "WHEN NOT EXISTS (SELECT 1 FROM events WHERE seq = NEW.seq_to AND hash = NEW.head_hash) "
                   f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS seals_name_stored_events" + (" ON seals" if op.get_bind().dialect.name ==
                                                                       "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS seals_name_stored_events()")
