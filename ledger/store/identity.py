"""Reading the ledger's identity and key rotations from the database, for the key schedule that checks seals.

Read afresh inside each transaction that relies on them (an append, under
the log's write lock): another process may rotate the key between two
appends, and a writer must then find its key retired.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from ledger.errors import UnsealedLog
from ledger.store.key_schedule import KeySchedule, Rotation
from ledger.store.schema import key_rotations, ledger_identity
from ledger.store.seals import Keyring

__all__ = ["load_key_schedule"]


def load_key_schedule(conn: Connection, keyring: Keyring) -> KeySchedule:
    """This ledger's keys as ``keyring`` can prove them (``UnsealedLog`` when they do not hold)."""
    identity = conn.execute(select(ledger_identity.c.ledger_id, ledger_identity.c.bound_from)).first()
    if identity is None:  # migration 0009 writes it and the database refuses its deletion: only DDL removes it
        raise UnsealedLog("this ledger has lost its identity (the table ledger_identity is empty): the seals cannot "
                          "be checked; nothing is trusted. Run `ledger verify`")
    r = key_rotations.c
    rotations = [Rotation(int(row.after_seq), row.head_hash, row.old_public, row.new_public, row.old_signature,
                          row.new_signature)
                 for row in conn.execute(select(r.after_seq, r.head_hash, r.old_public, r.new_public, r.old_signature,
                                                r.new_signature))]
    return KeySchedule.build(keyring, identity.ledger_id, int(identity.bound_from), rotations)
