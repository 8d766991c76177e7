"""The in-memory twin of the SQL store: the same protocol, the same answers, no database.

For tests and for tooling that wants a ledger without a file (a what-if
sandbox, a generated history). It keeps the SQL store's guarantees that do not
need a database: a write lock (one writer at a time), all-or-nothing batches,
unique event ids and stream versions, the hash chain. It holds nothing the
process does not, so it is never a place to keep a real log. The contract test
suite (``tests/test_store_contract.py``) runs the same cases against it, SQLite
and PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager

from ledger.errors import KeyUnusable, NotInitialised
from ledger.store.hashchain import GENESIS
from ledger.store.records import Row, StoredEvent, VerifyReport, verify_rows
from ledger.store.rows import RowsReader
from ledger.store.seals import Keyring
from ledger.store.writer import AppendsInOneTransaction, UniqueKeyRefused, Writer

__all__ = ["MemoryEventStore", "MemorySnapshots"]


class _Log:
    """The rows, and the two unique indexes the SQL table has."""

    def __init__(self) -> None:
        self.rows: list[StoredEvent] = []
        self.by_id: dict[str, StoredEvent] = {}
        self.streams: dict[str, list[StoredEvent]] = {}

    def add(self, rows: Sequence[StoredEvent]) -> None:
        for row in rows:
            self.rows.append(row)
            self.by_id[row.event_id] = row
            self.streams.setdefault(row.stream, []).append(row)


class MemoryWriter(Writer):
    """Stages rows; the store adds them to the log when the transaction ends without an error."""

    def __init__(self, log: _Log) -> None:
        self._log = log
        self.staged: list[StoredEvent] = []
        head = log.rows[-1] if log.rows else None
        super().__init__(head.seq if head else 0, head.hash if head else GENESIS)
        self._head_recorded_at = head.recorded_at if head else None

    def database_now(self) -> None:
        return None  # the twin's database is this process: its clock is the application's

    def head_recorded_at(self) -> str | None:
        return self._head_recorded_at

    def _stored(self, event_ids: list[str]) -> dict[str, StoredEvent]:
        staged = {row.event_id: row for row in self.staged}
        found = {}
        for event_id in event_ids:
            row = staged.get(event_id) or self._log.by_id.get(event_id)
            if row is not None:
                found[event_id] = row
        return found

    def _current_versions(self, streams: list[str]) -> dict[str, int]:
        found = {stream: rows[-1].stream_version for stream in streams if (rows := self._log.streams.get(stream))}
        for row in self.staged:
            if row.stream in found or row.stream in streams:
                found[row.stream] = max(found.get(row.stream, 0), row.stream_version)
        return found

    def _insert(self, rows: Iterable[Row], snapshot_digest: str | None = None) -> None:
        taken_ids = {row.event_id for row in self.staged}
        taken_versions = {(row.stream, row.stream_version) for row in self.staged}
        batch = []
        for row in rows:
            stored = StoredEvent(*row)
            clash = (stored.event_id in taken_ids or stored.event_id in self._log.by_id
                     or (stored.stream, stored.stream_version) in taken_versions
                     or stored.stream_version <= len(self._log.streams.get(stored.stream, ())))
            if clash:
                raise UniqueKeyRefused(
                    f"unique key violated by event {stored.event_id} ({stored.stream} v{stored.stream_version})"
                )
            taken_ids.add(stored.event_id)
            taken_versions.add((stored.stream, stored.stream_version))
            batch.append(stored)
        self.staged.extend(batch)


class MemorySnapshots:
    """The snapshot cache in a list; hashes are checked against the twin's log as the SQL cache does."""

    def __init__(self, log: _Log) -> None:
        self._log = log
        self._rows: list[tuple[int, str, int, str, int, str]] = []
        """(id, scope, seq, event_hash, format, state)"""

    def save(self, rows: Sequence[tuple[str, str]], seq: int, event_hash: str, fmt: int) -> None:
        for scope, state in rows:
            next_id = self._rows[-1][0] + 1 if self._rows else 1
            self._rows.append((next_id, scope, seq, event_hash, fmt, state))

    def prune(self, scope: str, *, keep_newest: int, keep_one_per: int) -> int:
        mine = [r for r in self._rows if r[1] == scope]
        kept = {r[0] for r in sorted(mine, key=lambda r: (r[2], r[0]), reverse=True)[:keep_newest]}
        firsts: dict[int, int] = {}
        for r in mine:
            span = r[2] // keep_one_per
            firsts[span] = min(firsts.get(span, r[0]), r[0])
        kept |= set(firsts.values())
        doomed = {r[0] for r in mine if r[0] not in kept}
        self._rows = [r for r in self._rows if r[0] not in doomed]
        return len(doomed)

    def with_prefix(self, scope_prefix: str, fmt: int) -> list[tuple[str, int, str]]:
        found = [r for r in self._rows if r[1].startswith(scope_prefix) and r[4] == fmt]
        return [(r[1], r[2], r[5]) for r in sorted(found, key=lambda r: (r[2], r[0]))]

    def of_scope(self, scope: str, fmt: int) -> list[tuple[int, str]]:
        found = [r for r in self._rows if r[1] == scope and r[4] == fmt]
        return [(r[2], r[5]) for r in sorted(found, key=lambda r: (r[2], r[0]))]

    def latest_seq(self, scope: str, fmt: int) -> int:
        return max((r[2] for r in self._rows if r[1] == scope and r[4] == fmt), default=0)

    def sealed(self) -> list[tuple[str, int, str, int, str, str | None]]:
        return [(r[1], r[2], r[3], r[4], r[5], None) for r in self._rows]

    def bindings(self, seqs: Sequence[int]) -> dict[int, str]:
        return {}  # the twin needs none: nothing outside this process writes its snapshots

    def points(self) -> dict[int, tuple[str, set[str]]]:
        found: dict[int, tuple[str, set[str]]] = {}
        for r in sorted(self._rows, key=lambda r: r[2]):
            found.setdefault(r[2], (r[1], set()))[1].add(r[3])
        return found

    def latest(self, scope: str, fmt: int, upto_seq: int | None = None) -> tuple[int, str] | None:
        found = [r for r in self._rows if r[1] == scope and r[4] == fmt and (upto_seq is None or r[2] <= upto_seq)]
        for r in sorted(found, key=lambda r: r[2], reverse=True)[:3]:
            if 0 < r[2] <= len(self._log.rows) and self._log.rows[r[2] - 1].hash == r[3]:
                return r[2], r[5]
        return None


class MemoryEventStore(AppendsInOneTransaction):
    """The log in this process's memory (see the module docstring)."""

    url = "memory://"
    dialect = "memory"
    keyring = None

    def unproven_tail(self) -> tuple[int, str] | None:
        return None  # no key, nothing to prove: the twin lives and dies with this process

    def seal_unsealed(self) -> tuple[int, int] | None:
        raise KeyUnusable("an in-memory ledger has no key: nothing to seal")

    def rotate_key(self, new: Keyring) -> tuple[int, str]:
        raise KeyUnusable("an in-memory ledger has no key: nothing to rotate")

    def key_schedule(self) -> None:
        return None  # no key: nothing to schedule

    def seals(self) -> list[tuple[int, int, str, str, str]]:
        return []  # nothing to seal against: only this process can write the twin

    def settled(self) -> None:
        """Appends to the twin are never in flight while another call runs (one process, one lock); its clock is
        the application's (None)."""
        with self._lock:
            pass

    def __init__(self) -> None:
        self._log = _Log()
        self._rows = RowsReader.sharing(self._log.rows, self._log.by_id)
        """the log read in order: the same reads a sweep's worker answers from its shipped rows"""
        self._lock = threading.Lock()
        self._initialised = False
        self.snapshots = MemorySnapshots(self._log)

    def initialise(self) -> None:
        self._initialised = True

    def close(self) -> None:
        """Nothing to release: the log lives as long as this object."""

    def address(self) -> str | None:
        """None: no other process can open this log."""
        return None

    def require_schema(self) -> None:
        if not self._initialised:
            raise NotInitialised("the in-memory store is not initialised: call init() first")

    @contextmanager
    def writer(self) -> Iterator[MemoryWriter]:
        with self._lock:
            writer = MemoryWriter(self._log)
            yield writer
            self._log.add(writer.staged)  # only reached when the transaction's body raised nothing

    def head(self) -> tuple[int, str]:
        return self._rows.head()

    def stream_version(self, stream: str) -> int:
        rows = self._log.streams.get(stream)
        return rows[-1].stream_version if rows else 0

    def read(
        self, *, after_seq: int = 0, upto_seq: int | None = None, upto_at: str | None = None,
        known_at: str | None = None, types: Sequence[str] | None = None, batch_size: int = 5000,
    ) -> Iterator[StoredEvent]:
        return self._rows.read(after_seq=after_seq, upto_seq=upto_seq, upto_at=upto_at, known_at=known_at, types=types)

    def read_batches(
        self, *, after_seq: int = 0, upto_seq: int | None = None, batch_size: int = 5000
    ) -> Iterator[list[tuple[int, str, int, str]]]:
        return self._rows.read_batches(after_seq=after_seq, upto_seq=upto_seq, batch_size=batch_size)

    def identities(self, seqs: Iterable[int]) -> dict[int, tuple[str, str]]:
        return self._rows.identities(seqs)

    def read_stream(self, stream: str, *, after_version: int = 0, upto_seq: int | None = None) -> Iterator[StoredEvent]:
        for row in self._log.streams.get(stream, [])[after_version:]:
            if upto_seq is None or row.seq <= upto_seq:
                yield row

    def stream_versions(self, prefix: str, upto_seq: int | None = None) -> dict[str, int]:
        found = {}
        for stream, rows in self._log.streams.items():
            if stream.startswith(prefix):
                versions = [r.stream_version for r in rows if upto_seq is None or r.seq <= upto_seq]
                if versions:
                    found[stream] = versions[-1]
        return found

    def stream_names(self, prefix: str) -> list[str]:
        return sorted(stream for stream in self._log.streams if stream.startswith(prefix))

    def row_at(self, seq: int) -> StoredEvent | None:
        return self._rows.row_at(seq)

    def stream_row(self, stream: str, version: int) -> StoredEvent | None:
        rows = self._log.streams.get(stream, [])
        return rows[version - 1] if 0 < version <= len(rows) else None

    def last_in_stream(self, stream: str, upto_seq: int | None = None) -> StoredEvent | None:
        for row in reversed(self._log.streams.get(stream, [])):
            if upto_seq is None or row.seq <= upto_seq:
                return row
        return None

    def stream_seqs(self, stream: str, *, after_version: int = 0) -> list[int]:
        return [row.seq for row in self._log.streams.get(stream, [])[after_version:]]

    def rows_at(self, seqs: Iterable[int]) -> list[StoredEvent]:
        rows = self._log.rows
        return [rows[seq - 1] for seq in sorted({int(seq) for seq in seqs}) if 0 < seq <= len(rows)]

    def get(self, event_id: str) -> StoredEvent | None:
        return self._rows.get(event_id)

    def last_seq_at_or_before(self, at: str) -> int:
        """Business time never decreases along the log: a binary search, as on the SQL store."""
        return self._rows.last_seq_at_or_before(at)

    def verify(self, keep: Collection[int] = ()) -> VerifyReport:
        return verify_rows(self._log.rows, keep)
