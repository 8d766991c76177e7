"""The tables, as SQLAlchemy Core metadata.

The schema is created only by Alembic migrations (``migrations/``); this
metadata exists so queries are typed and so the drift test can compare it with
what the migrations build. The append-only triggers are hand-written in the
migration, which autogenerate cannot see.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text, UniqueConstraint, text

__all__ = ["metadata", "events", "snapshots", "seals", "ledger_identity", "key_rotations", "COMMON_TYPES", "RARE_ROWS"]

metadata = MetaData()

_SEQ = BigInteger().with_variant(Integer, "sqlite")

COMMON_TYPES = ("deposit", "mark", "trade", "withdrawal")
"""The kinds nearly every stored row is of (on the benchmark's mix, all but a handful)."""

RARE_ROWS = " AND ".join(f"type <> '{kind}'" for kind in COMMON_TYPES)
"""The predicate of ``ix_events_rare``, word for word as migration 0006 wrote it (the rows of no common kind).

The index holds only the rows of the other kinds (liquidations, bankruptcies,
rule activations, listings, funding, margin modes): the reads that ask for
those kinds alone (``ledger liquidations``, the report, a sweep's base
params) find them without reading the log, and an append of a common row
leaves the index untouched. SQLite uses a partial index only for a query
that repeats its predicate word for word (PostgreSQL proves it from the kinds
asked), so ``SqlEventStore.read`` adds this text as it is;
``tests/test_rare_rows_index.py`` holds it equal to the index the migration
built, and asks both planners. Four comparisons, not ``NOT IN (...)``: SQLite
evaluated the list form by building a small table for every inserted row
(a bare insert of 100,000 log rows: 0.68 → 1.22 s; in this form 0.57 → 0.58 s
best of six).
"""

events = Table(
    "events",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=False, comment="global order, from 1, no gaps"),
    Column("event_id", String(640), nullable=False, unique=True, comment="the idempotency key"),
    Column("stream", String(220), nullable=False),
    Column("stream_version", Integer, nullable=False),
    Column("type", String(32), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("at", String(27), nullable=False, comment="business time, canonical UTC text"),
    Column("recorded_at", String(27), nullable=False, comment="when the ledger stored it"),
    Column("payload", Text, nullable=False, comment="canonical JSON body"),
    Column("hash", String(64), nullable=False, comment="sha256 chained to the previous event"),
    Column("snapshot_digest", String(64), nullable=True,
           comment="sha256 binding the whole-ledger snapshot taken after this event (null: none)"),
    UniqueConstraint("stream", "stream_version", name="uq_events_stream_version"),
    Index("ix_events_rare", "type", "seq", sqlite_where=text(RARE_ROWS), postgresql_where=text(RARE_ROWS)),
)

snapshots = Table(
    "snapshots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope", String(220), nullable=False),
    Column("seq", BigInteger, nullable=False, comment="last event the snapshot covers"),
    Column("event_hash", String(64), nullable=False, comment="hash of that event, checked on load"),
    Column("format", Integer, nullable=False),
    Column("state", Text, nullable=False),
    Column("seal", String(128), nullable=True, comment="Ed25519 signature, hex"),
    Index("ix_snapshots_scope_seq", "scope", "seq"),
)

seals = Table(
    "seals",
    metadata,
    Column("seq_to", BigInteger, primary_key=True, autoincrement=False, comment="last event sealed"),
    Column("seq_from", BigInteger, nullable=False, comment="first event sealed (the previous seal's seq_to + 1)"),
    Column("head_hash", String(64), nullable=False, comment="the chain hash of event seq_to"),
    Column("key_id", String(32), nullable=False, comment="which public key verifies it"),
    Column("signature", String(128), nullable=False, comment="Ed25519, hex"),
)

ledger_identity = Table(
    "ledger_identity",
    metadata,
    Column("ledger_id", String(36), primary_key=True, comment="random, made by `ledger init`, in every seal"),
    Column("bound_from", BigInteger, nullable=False,
           comment="the head when the ledger got its identity: seals of format 1 stay valid up to it"),
)

key_rotations = Table(
    "key_rotations",
    metadata,
    Column("new_key_id", String(32), primary_key=True, comment="the key that seals after after_seq"),
    Column("after_seq", BigInteger, nullable=False, unique=True, comment="the last event the old key seals"),
    Column("head_hash", String(64), nullable=False, comment="the chain hash of event after_seq"),
    Column("old_public", String(64), nullable=False, comment="raw Ed25519 public key, hex"),
    Column("new_public", String(64), nullable=False, comment="raw Ed25519 public key, hex"),
    Column("old_signature", String(128), nullable=False, comment="the old key hands over"),
    Column("new_signature", String(128), nullable=False, comment="the new key takes the history as sealed"),
)
