"""The ledger's identity, named in every seal made from now on, and the key rotations that both keys sign.

``ledger_identity`` holds one row, written here (so by ``ledger init``): a
random id and ``bound_from``, the last event the log held when it got it.
Seals of format 2 name the id in the signed bytes; seals of format 1 stay
valid only up to ``bound_from``. A second row, an UPDATE or a DELETE is
refused by the database. ``key_rotations`` holds the records by which a key
hands over to the next (signed by both; see ``ledger/store/key_schedule.py``),
append-only too, and each must name an event the log holds with its hash
(or be made on an empty log, after event 0).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TABLES = ("ledger_identity", "key_rotations")

_PG_APPEND_ONLY = """
CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{table} is append-only: % on {table} is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""

_PG_ONE_IDENTITY = """
CREATE FUNCTION ledger_identity_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM ledger_identity) THEN
        RAISE EXCEPTION 'a ledger has one identity: a second one is refused' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$
"""

_PG_ROTATION_POINT = """
CREATE FUNCTION key_rotations_name_stored_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT (NEW.after_seq = 0 OR EXISTS (SELECT 1 FROM events WHERE seq = NEW.after_seq AND hash = NEW.head_hash)) THEN
        RAISE EXCEPTION 'a key rotation must name an event the log holds, with its hash: refused'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$
"""


def upgrade() -> None:
    op.create_table(
        "ledger_identity",
        sa.Column("ledger_id", sa.String(36), primary_key=True, comment="random, made by `ledger init`, in every seal"),
        sa.Column("bound_from", sa.BigInteger, nullable=False,
                  comment="the head when the ledger got its identity: seals of format 1 stay valid up to it"),
    )
    op.create_table(
        "key_rotations",
        sa.Column("new_key_id", sa.String(32), primary_key=True, comment="the key that seals after after_seq"),
        sa.Column("after_seq", sa.BigInteger, nullable=False, unique=True, comment="the last event the old key seals"),
        sa.Column("head_hash", sa.String(64), nullable=False, comment="the chain hash of event after_seq"),
        sa.Column("old_public", sa.String(64), nullable=False, comment="raw Ed25519 public key, hex"),
        sa.Column("new_public", sa.String(64), nullable=False, comment="raw Ed25519 public key, hex"),
        sa.Column("old_signature", sa.String(128), nullable=False, comment="the old key hands over"),
        sa.Column("new_signature", sa.String(128), nullable=False, comment="the new key takes the history as sealed"),
    )
    bind = op.get_bind()
    head = bind.execute(sa.text("SELECT coalesce(max(seq), 0) FROM events")).scalar()
    bind.execute(sa.text("INSERT INTO ledger_identity (ledger_id, bound_from) VALUES (:id, :head)"),
                 {"id": str(uuid.uuid4()), "head": head})
    if bind.dialect.name == "postgresql":
        _postgres_triggers()
    else:
        _sqlite_triggers()


def _postgres_triggers() -> None:
    for table in _TABLES:
        op.execute(_PG_APPEND_ONLY.format(table=table))
        op.execute(f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()")
    op.execute(_PG_ONE_IDENTITY)
    op.execute("CREATE TRIGGER ledger_identity_once BEFORE INSERT ON ledger_identity "
               "FOR EACH ROW EXECUTE FUNCTION ledger_identity_once()")
    op.execute(_PG_ROTATION_POINT)
    op.execute("CREATE TRIGGER key_rotations_name_stored_events BEFORE INSERT ON key_rotations "
               "FOR EACH ROW EXECUTE FUNCTION key_rotations_name_stored_events()")


def _sqlite_triggers() -> None:
    for table in _TABLES:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {action} on {table} is refused'); END")
    op.execute("CREATE TRIGGER ledger_identity_once BEFORE INSERT ON ledger_identity "
               "WHEN EXISTS (SELECT 1 FROM ledger_identity) "
               "BEGIN SELECT RAISE(ABORT, 'a ledger has one identity: a second one is refused'); END")
    op.execute("CREATE TRIGGER key_rotations_name_stored_events BEFORE INSERT ON key_rotations "
               "WHEN NOT (NEW.after_seq = 0 OR EXISTS (SELECT 1 FROM events WHERE seq = NEW.after_seq "
               "AND hash = NEW.head_hash)) "
               "BEGIN SELECT RAISE(ABORT, 'a key rotation must name an event the log holds, with its hash: refused'); END")


def downgrade() -> None:
    rotated = op.get_bind().execute(sa.text("SELECT count(*) FROM key_rotations")).scalar()
    if rotated:
        raise RuntimeError(f"refusing to downgrade: the ledger holds {rotated} key rotations, part of its proof "
                           "against forgery; they are kept forever (to discard a ledger, drop its database)")
    postgres = op.get_bind().dialect.name == "postgresql"
    names = [f"{table}_no_{action}" for table in _TABLES for action in ("update", "delete", "update_delete", "truncate")]
    for trigger, table in [(n, n.split("_no_")[0]) for n in names] + [
            ("ledger_identity_once", "ledger_identity"), ("key_rotations_name_stored_events", "key_rotations")]:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}" + (f" ON {table}" if postgres else ""))
    if postgres:
        for function in [f"{table}_append_only" for table in _TABLES] + ["ledger_identity_once",
                                                                         "key_rotations_name_stored_events"]:
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    op.drop_table("key_rotations")
    op.drop_table("ledger_identity")
