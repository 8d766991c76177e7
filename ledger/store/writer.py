"""The append half of a store: one write transaction holding the log's lock.

Every row's hash depends on the row before it, so appends are serialised: a
writer reads the head under the lock, numbers, versions and chains the new
rows, and hands them to its backend to insert. What is the same on every
backend lives here (versions, the chain, idempotency through
``domain.idempotency``, expected-version checks); a backend supplies three
look-ups, the insert, and the database's clock with the head's recording time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import datetime

from ledger.domain.codec import SCHEMA_VERSIONS, encode_payload
from ledger.domain.events import Event, stream_of
from ledger.domain.idempotency import NewEvents
from ledger.domain.timefmt import format_time
from ledger.errors import ConcurrencyConflict
from ledger.store.hashchain import chain_hash
from ledger.store.records import Row, StoredEvent

__all__ = ["Writer", "AppendsInOneTransaction", "Ending", "UniqueKeyRefused", "with_digest_on_last"]


def with_digest_on_last(rows: Iterable[Row], digest: str) -> Iterator[tuple[object, ...]]:
    """Each row with a snapshot digest column: empty on every row but the last, which carries ``digest``; still
    streamed (one row behind)."""
    previous: Row | None = None
    for row in rows:
        if previous is not None:
            yield (*previous, None)
        previous = row
    if previous is not None:
        yield (*previous, digest)


class UniqueKeyRefused(Exception):
    """A backend's unique key (event id, or stream and version) refused a row; ``args[0]`` is the backend's own words."""


Ending = Callable[[], None]
"""An insert whose rows are all sent, still ending in the database: called, it waits for the end (``UniqueKeyRefused``
if a unique key refused a row, as the insert itself would have raised)."""


@contextmanager
def _refusals_as_conflicts(first_stream: str) -> Iterator[None]:
    """A unique key's refusal, from a writer that slipped past the lock: the database had the last word."""
    try:
        yield
    except UniqueKeyRefused as exc:
        raise ConcurrencyConflict.refused_by_database(first_stream, exc.args[0]) from exc


class Writer(ABC):
    """A write transaction holding the log's lock: read the head, check, append."""

    def __init__(self, head_seq: int, head_hash: str) -> None:
        self.head_seq, self.head_hash = head_seq, head_hash
        self._versions: dict[str, int] = {}
        self._versions_at_start: dict[str, int] = {}
        """each stream's version when this transaction first looked at it"""
        self._ending: tuple[Ending, str] | None = None
        """the last insert, still ending, with its batch's first stream (``settle``)"""

    # -- what a backend supplies ----------------------------------------------
    @abstractmethod
    def database_now(self) -> datetime | None:
        """The database's own clock, read under the lock: what an append records as its time (#27 point 10: a
        writer's clock an hour behind or a year ahead must not stamp the log). None where the database's clock is
        this machine's (an embedded file), which the application's clock reads."""

    @abstractmethod
    def head_recorded_at(self) -> str | None:
        """The recording time of the head row (None on an empty log): an append never records an earlier one."""

    @abstractmethod
    def _stored(self, event_ids: list[str]) -> dict[str, StoredEvent]:
        """Stored rows for any of these (distinct) ids."""

    @abstractmethod
    def _current_versions(self, streams: list[str]) -> dict[str, int]:
        """Current version of each of these streams that has events (the others are absent)."""

    @abstractmethod
    def _insert(self, rows: Iterable[Row], snapshot_digest: str | None = None) -> Ending | None:
        """Insert the rows, streamed as they are built; ``UniqueKeyRefused`` if a unique key refuses one. With
        ``snapshot_digest``, the last row carries it in the log (``ledger.store.snapshots``).

        None once the insert has ended; or, once every row is sent, the call that waits for its end, which the
        writer makes before it next asks the database anything (``settle``): the server inserts the last rows while
        the caller goes on (an ingest reads its next lines meanwhile)."""

    # -- the last insert's end ------------------------------------------------
    def settle(self) -> None:
        """Wait until the last insert has ended; a unique key's refusal is raised here, as the append would have
        raised it. Called before every look-up, insert and commit (the store's ``writer`` makes the last call)."""
        pending = self._ending
        if pending is None:
            return
        ending, first_stream = pending
        try:
            with _refusals_as_conflicts(first_stream):
                ending()
        except KeyboardInterrupt:
            raise  # interrupted while waiting: the insert is still ending, and ``abandon`` waits for it again
        except BaseException:
            self._ending = None
            raise
        self._ending = None

    def abandon(self) -> None:
        """After a failure, before the rollback: wait for the last insert's end, raising nothing (what failed first
        is what the caller is told)."""
        with suppress(Exception):  # the transaction is rolled back: how this insert ended is of no account
            self.settle()

    # -- shared ---------------------------------------------------------------
    def existing(self, event_ids: Iterable[str]) -> dict[str, StoredEvent]:
        """Stored rows for any of these ids."""
        self.settle()
        return self._stored(list(dict.fromkeys(event_ids)))

    def stream_version(self, stream: str) -> int:
        if stream not in self._versions:
            self._prefetch_versions({stream})
        return self._versions[stream]

    def streams_crossing(self, every: int, prefix: str = "") -> dict[str, int]:
        """Streams (starting with ``prefix``) whose version passed a multiple of ``every`` in this transaction, with it."""
        start = self._versions_at_start
        return {
            stream: version for stream, version in self._versions.items()
            if stream.startswith(prefix) and version // every > start[stream] // every
        }

    def check_expected(self, expected_versions: Mapping[str, int] | None) -> None:
        """``ConcurrencyConflict`` unless every named stream is at the expected version."""
        for stream, expected in (expected_versions or {}).items():
            actual = self.stream_version(stream)
            if actual != expected:
                raise ConcurrencyConflict(stream, expected, actual)

    def append(
        self, batch: Sequence[Event], recorded_at: str, expected_versions: Mapping[str, int] | None = None
    ) -> list[StoredEvent]:
        """Append new events (idempotent on id); refuse stale expected versions."""
        self.check_expected(expected_versions)
        stored = {event_id: row.event() for event_id, row in self.existing(e.id for e in batch).items()}
        new = NewEvents(stored)
        fresh = [event for event in batch if new.is_new(event)]
        return [StoredEvent(*row) for row in self._append_rows(fresh, recorded_at)]

    def append_new(self, batch: Sequence[Event], recorded_at: str, snapshot_digest: str | None = None) -> int:
        """Insert events the caller has already checked are not stored; returns how many. ``snapshot_digest``: the
        digest of the whole-ledger snapshot after the batch's last event, stored in that event's row (it binds the
        snapshot to the log).

        The hot path of every append: rows are built as plain tuples and handed
        to the backend in one statement (``executemany``, or ``COPY``).
        """
        assert snapshot_digest is None or batch, "a snapshot is bound to an event appended with it"
        return len(self._append_rows(batch, recorded_at, snapshot_digest))

    def _append_rows(self, batch: Sequence[Event], recorded_at: str, snapshot_digest: str | None = None) -> list[Row]:
        self.settle()
        streams = [stream_of(event) for event in batch]
        self._prefetch_versions(set(streams))
        rows: list[Row] = []
        if batch:
            with _refusals_as_conflicts(streams[0]):
                ending = self._insert(self._rows(batch, streams, recorded_at, rows), snapshot_digest)
            if ending is not None:
                self._ending = (ending, streams[0])
        return rows

    def _rows(self, batch: Sequence[Event], streams: list[str], recorded_at: str, into: list[Row]) -> Iterator[Row]:
        """The batch's rows, each numbered, versioned and chained to the one before.

        Yielded one by one as they are built (and kept in ``into``), so the
        database takes each row while the next is encoded and hashed: on
        PostgreSQL the server indexes the ``COPY`` stream on its own core.
        """
        versions, seq, head = self._versions, self.head_seq, self.head_hash
        last_at, at_text = None, ""
        for event, stream in zip(batch, streams, strict=True):
            version = versions[stream] + 1
            versions[stream] = version
            seq += 1
            if event.at != last_at:  # events come in bursts at one time (both sides of a fill)
                last_at, at_text = event.at, format_time(event.at)
            payload = encode_payload(event)
            shape = SCHEMA_VERSIONS[event.TYPE]
            head = chain_hash(head, seq, event.id, stream, version, event.TYPE, shape, at_text, recorded_at, payload)
            row = (seq, event.id, stream, version, event.TYPE, shape, at_text, recorded_at, payload, head)
            into.append(row)
            yield row
        self.head_seq, self.head_hash = seq, head

    def _prefetch_versions(self, streams: set[str]) -> None:
        """Current versions of the batch's streams, in a few look-ups rather than one each."""
        missing = sorted(streams - set(self._versions))
        if missing:
            self.settle()
            found = self._current_versions(missing)
            for stream in missing:
                self._versions[stream] = self._versions_at_start[stream] = found.get(stream, 0)


class AppendsInOneTransaction(ABC):
    """``append`` for a store that opens writers: one batch, one write transaction, all or nothing."""

    @abstractmethod
    def writer(self) -> AbstractContextManager[Writer]:
        """One write transaction under the log's lock."""

    def append(
        self, batch: Sequence[Event], recorded_at: str, expected_versions: Mapping[str, int] | None = None
    ) -> list[StoredEvent]:
        """Append new events (idempotent on id) in one transaction; refuse stale expected versions."""
        with self.writer() as w:
            return w.append(batch, recorded_at, expected_versions)
