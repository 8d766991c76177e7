"""The event log, the snapshot cache, and the triggers that keep the log append-only.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")

_PG_FUNCTION = """
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % on events is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=False, comment="global order, from 1, no gaps"),
        sa.Column("event_id", sa.String(640), nullable=False, comment="the idempotency key"),
        sa.Column("stream", sa.String(220), nullable=False),
        sa.Column("stream_version", sa.Integer, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("schema_version", sa.Integer, nullable=False),
        sa.Column("at", sa.String(27), nullable=False, comment="business time, canonical UTC text"),
        sa.Column("recorded_at", sa.String(27), nullable=False, comment="when the ledger stored it"),
        sa.Column("payload", sa.Text, nullable=False, comment="canonical JSON body"),
        sa.Column("hash", sa.String(64), nullable=False, comment="sha256 chained to the previous event"),
        sa.UniqueConstraint("event_id"),
        sa.UniqueConstraint("stream", "stream_version", name="uq_events_stream_version"),
    )
    op.create_index("ix_events_at", "events", ["at"])
    op.create_index("ix_events_recorded_at", "events", ["recorded_at"])
    op.create_table(
        "snapshots",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(220), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False, comment="last event the snapshot covers"),
        sa.Column("event_hash", sa.String(64), nullable=False, comment="hash of that event, checked on load"),
        sa.Column("format", sa.Integer, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
    )
    op.create_index("ix_snapshots_scope_seq", "snapshots", ["scope", "seq"])

    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events "
            "FOR EACH ROW EXECUTE FUNCTION events_append_only()"
        )
        op.execute(
            "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events "
            "FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER events_no_{action.lower()} BEFORE {action} ON events "
                f"BEGIN SELECT RAISE(ABORT, 'the event log is append-only: {action} on events is refused'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_no_truncate ON events")
        op.execute("DROP TRIGGER IF EXISTS events_no_update_delete ON events")
        op.execute("DROP FUNCTION IF EXISTS events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS events_no_update")
        op.execute("DROP TRIGGER IF EXISTS events_no_delete")
    op.drop_index("ix_snapshots_scope_seq", table_name="snapshots")
    op.drop_table("snapshots")
    op.drop_index("ix_events_recorded_at", table_name="events")
    op.drop_index("ix_events_at", table_name="events")
    op.drop_table("events")
