"""Storage: the append-only event log and its snapshot cache, behind protocols by role.

The rest of the ledger sees the role it uses, never a table or a connection
(eventsourcing's recorders are the model): ``LogReader`` (the log in order:
replay from the first event, what-if, sweep), ``CachedLog`` (with the snapshot
cache), ``StreamReader`` (one stream), ``ProvenLog`` (with the chain, the seals
and the key: audit, verify), ``Appender`` (the write transaction); an
``EventStore`` is all of them with a lifecycle, and only the application holds
one. ``SqlEventStore`` keeps the log in
SQLite (the embedded default) or PostgreSQL (the server backend);
``MemoryEventStore`` is its in-memory twin. One contract test suite proves
they answer alike (``tests/test_store_contract.py``).

Submodules: ``records`` (what the store hands out), ``writer`` (the append
transaction every backend shares), ``sql`` and ``engine`` (every dialect
branch), ``snapshots`` (the cache), ``seals`` (the key that authenticates
appends and snapshots), ``memory``; ``schema``, ``hashchain`` and ``migrate``
serve the SQL store.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from ledger.domain.events import Event
from ledger.store.key_schedule import KeySchedule
from ledger.store.records import StoredEvent, VerifyReport
from ledger.store.seals import Keyring
from ledger.store.snapshots import SnapshotCache
from ledger.store.writer import Writer

__all__ = [
    "EventStore", "LogReader", "CachedLog", "StreamReader", "AccountSource", "ProvenLog", "Appender",
    "StoredEvent", "VerifyReport", "SnapshotCache", "Writer", "Keyring", "open_store",
]


class LogReader(Protocol):
    """The log read in order, and its points: all a replay from the first event, a what-if and a sweep need.

    A sweep's worker answers it from rows shipped to it (``store.rows.RowsReader``), not from a database.
    """

    def head(self) -> tuple[int, str]:
        """(seq, hash) of the last event; (0, genesis) for an empty log."""
        ...

    def read(
        self, *, after_seq: int = 0, upto_seq: int | None = None, upto_at: str | None = None,
        known_at: str | None = None, types: Sequence[str] | None = None, batch_size: int = 5000,
    ) -> Iterator[StoredEvent]:
        """Rows in sequence order, streamed (bounded memory), cut by sequence, business or recorded time, type."""
        ...

    def read_batches(
        self, *, after_seq: int = 0, upto_seq: int | None = None, batch_size: int = 5000
    ) -> Iterator[list[tuple[int, str, int, str]]]:
        """Bare rows ``(seq, type, schema_version, payload)`` in batches: the replay fast path's read."""
        ...

    def identities(self, seqs: Iterable[int]) -> dict[int, tuple[str, str]]:
        """``seq -> (event_id, at)`` of these rows."""
        ...

    def last_seq_at_or_before(self, at: str) -> int:
        """The last sequence number whose business time is <= ``at`` (0 if none)."""
        ...

    def row_at(self, seq: int) -> StoredEvent | None: ...

    def get(self, event_id: str) -> StoredEvent | None: ...


class CachedLog(LogReader, Protocol):
    """The log with its snapshot cache: a replay that starts from the newest usable snapshot (balances, explain)."""

    @property
    def snapshots(self) -> SnapshotCache: ...


class StreamReader(Protocol):
    """One stream at a time (an account, a market, a market's funding): the one-account replay and the listings."""

    def stream_version(self, stream: str) -> int: ...

    def read_stream(self, stream: str, *, after_version: int = 0, upto_seq: int | None = None) -> Iterator[StoredEvent]:
        """One stream's rows after ``after_version``, in order."""
        ...

    def stream_versions(self, prefix: str, upto_seq: int | None = None) -> dict[str, int]: ...

    def stream_names(self, prefix: str) -> list[str]: ...

    def stream_row(self, stream: str, version: int) -> StoredEvent | None: ...

    def last_in_stream(self, stream: str, upto_seq: int | None = None) -> StoredEvent | None: ...

    def stream_seqs(self, stream: str, *, after_version: int = 0) -> list[int]:
        """The sequence numbers of one stream's rows after ``after_version``, in version order (no payloads: an
        account's history counts and locates its market's marks with them)."""
        ...

    def rows_at(self, seqs: Iterable[int]) -> list[StoredEvent]:
        """The rows with these sequence numbers, in sequence order (primary-key reads)."""
        ...


class AccountSource(CachedLog, StreamReader, Protocol):
    """What the one-account replay reads: its stream and its markets', its snapshots, the log's points."""


class ProvenLog(CachedLog, Protocol):
    """The log with what proves it: the chain, the seals and the key. The audit and ``verify`` read this."""

    @property
    def keyring(self) -> Keyring | None: ...

    def seals(self) -> list[tuple[int, int, str, str, str]]:
        """Every seal, by the last event it covers: (seq_from, seq_to, head_hash, key_id, signature)."""
        ...

    def unproven_tail(self) -> tuple[int, str] | None:
        """With a key, the first event no valid seal proves and why; None when the head is proven, or without a key."""
        ...

    def key_schedule(self) -> KeySchedule | None:
        """The ledger's keys (rotations followed) as the configured key proves them; None without a key."""
        ...

    def seal_unsealed(self) -> tuple[int, int] | None:
        """Seal (an operator vouching) the events after the last valid seal; (first, last), or None if none."""
        ...

    def rotate_key(self, new: Keyring) -> tuple[int, str]:
        """Hand sealing over to ``new`` after the head (both keys sign); (the old key's last event, the new key's id)."""
        ...

    def verify(self, keep: Collection[int] = ()) -> VerifyReport:
        """Recompute the hash chain from the first event; the first break is named. ``keep``: the sequence numbers
        whose (event id, hash) the report carries (``VerifyReport.at_points``)."""
        ...


class Appender(Protocol):
    """The append half: one write transaction under the log's lock, and the wait for appends in flight."""

    def writer(self) -> AbstractContextManager[Writer]:
        """One write transaction under the log's lock; all or nothing."""
        ...

    def append(
        self, batch: Sequence[Event], recorded_at: str, expected_versions: Mapping[str, int] | None = None
    ) -> list[StoredEvent]:
        """Append new events (idempotent on id) in one transaction; refuse stale expected versions."""
        ...

    def settled(self) -> datetime | None:
        """Return once no append is in flight, with the database's time then (None: the database's clock is this
        machine's): nothing committed after it is recorded earlier than that time."""
        ...


class EventStore(ProvenLog, StreamReader, Appender, Protocol):
    """A whole store: every role above, and its lifecycle. Only the application holds one; the packages below it
    take the role they use."""

    @property
    def url(self) -> str:
        """Where the log is, with any password masked."""
        ...

    def address(self) -> str | None:
        """The URL another process opens this log with (a secret: never printed); None when no other process can."""
        ...

    def initialise(self) -> None:
        """Create or upgrade the storage; safe to repeat."""
        ...

    def close(self) -> None: ...

    def require_schema(self) -> None:
        """``NotInitialised`` unless ``initialise`` has created the storage."""
        ...


def open_store(url: str, keyring: Keyring | None = None) -> EventStore:
    """The store at ``url``: ``memory://`` for the in-memory twin, else a SQLAlchemy URL (SQLite or PostgreSQL).

    ``keyring``: the key that seals appends and snapshots and verifies seals (``ledger.store.seals``).
    """
    if url == "memory://":
        from ledger.store.memory import MemoryEventStore

        return MemoryEventStore()
    from ledger.store.sql import SqlEventStore

    return SqlEventStore.open(url, keyring)
