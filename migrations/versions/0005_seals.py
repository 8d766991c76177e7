"""Seals: signatures over the log and its snapshots, made with a key the database does not hold.

``seals`` holds one row per sealed append (the rows it covers, the chain head
after them, the key's id and the Ed25519 signature), append-only like the
log itself (UPDATE, DELETE, REPLACE and TRUNCATE refused by the database).
``snapshots.seal`` holds a snapshot's signature (null when written without a
key: such a snapshot is never used by a keyed ledger). See
``ledger/store/seals.py``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_PG_FUNCTION = """
CREATE FUNCTION seals_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the seals are append-only: % on seals is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""


def upgrade() -> None:
    op.create_table(
        "seals",
        sa.Column("seq_to", sa.BigInteger, primary_key=True, autoincrement=False, comment="last event sealed"),
        sa.Column("seq_from", sa.BigInteger, nullable=False, comment="first event sealed (the previous seal's seq_to + 1)"),
        sa.Column("head_hash", sa.String(64), nullable=False, comment="the chain hash of event seq_to"),
        sa.Column("key_id", sa.String(32), nullable=False, comment="which public key verifies it"),
        sa.Column("signature", sa.String(128), nullable=False, comment="Ed25519, hex"),
    )
    op.add_column("snapshots", sa.Column("seal", sa.String(128), nullable=True, comment="Ed25519 signature, hex"))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute("CREATE TRIGGER seals_no_update_delete BEFORE UPDATE OR DELETE ON seals "
                   "FOR EACH ROW EXECUTE FUNCTION seals_append_only()")
        op.execute("CREATE TRIGGER seals_no_truncate BEFORE TRUNCATE ON seals "
                   "FOR EACH STATEMENT EXECUTE FUNCTION seals_append_only()")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER seals_no_{action.lower()} BEFORE {action} ON seals "
                       f"BEGIN SELECT RAISE(ABORT, 'the seals are append-only: {action} on seals is refused'); END")
        op.execute("CREATE TRIGGER seals_no_replace BEFORE INSERT ON seals "
                   "WHEN EXISTS (SELECT 1 FROM seals WHERE seq_to = NEW.seq_to) "
                   "BEGIN SELECT RAISE(ABORT, 'the seals are append-only: an insert that would replace a seal is refused'); END")


def downgrade() -> None:
    sealed = op.get_bind().execute(sa.text("SELECT count(*) FROM seals")).scalar()
    if sealed:
        raise RuntimeError(f"refusing to downgrade: the log holds {sealed} seals, its proof against forgery; "
                           "they are kept forever (to discard a ledger, drop its database)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS seals_no_truncate ON seals")
        op.execute("DROP TRIGGER IF EXISTS seals_no_update_delete ON seals")
        op.execute("DROP FUNCTION IF EXISTS seals_append_only()")
    else:
        for name in ("update", "delete", "replace"):
            op.execute(f"DROP TRIGGER IF EXISTS seals_no_{name}")
    with op.batch_alter_table("snapshots") as batch:
        batch.drop_column("seal")
    op.drop_table("seals")
