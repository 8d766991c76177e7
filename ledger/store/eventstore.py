"""The append-only event log.

Appends happen in one transaction per batch while holding the log's write lock
(``BEGIN IMMEDIATE`` on SQLite, a transaction-scoped advisory lock on
PostgreSQL), because every row's hash depends on the row before it. Inside:
idempotency (an id already stored with equal content is skipped, with other
content refused), optimistic concurrency (a stale expected stream version
refuses the whole batch), then one multi-row insert. The unique
``(stream, stream_version)`` and ``event_id`` constraints back these checks up
in the database itself; triggers from the migration refuse UPDATE and DELETE.
"""

from __future__ import annotations

from contextlib import contextmanager, suppress
from typing import Iterable, Iterator, Mapping, Sequence

from attrs import frozen
from sqlalchemy import Connection, Engine, func, inspect, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from ledger.domain.codec import SCHEMA_VERSION, decode_stored, encode_payload, format_time
from ledger.domain.events import Event, stream_of
from ledger.errors import ConcurrencyConflict, DuplicateEventConflict, NotInitialised
from ledger.store.hashchain import GENESIS, chain_hash
from ledger.store.schema import events, snapshots

__all__ = ["EventStore", "StoredEvent", "Writer", "VerifyReport"]

_ADVISORY_LOCK_KEY = 7_423_001
_COLUMNS = "seq, event_id, stream, stream_version, type, schema_version, at, recorded_at, payload, hash"
_CHUNK = 500
_REPLAY_COLUMNS = "seq, type, schema_version, payload"
SQLITE_WRITER_CACHE_KIB = 65_536
"""SQLite page cache while appending (KiB; filled only as pages are used).

The log's two unique indexes take inserts at random places; SQLite's default
2 MiB cache makes a large append re-read index pages at every turn (measured:
the insert alone runs ~25% faster at 1,000,000 events with 64 MiB). Only the
writer gets it: a replay scans the log once and would only fill it.
"""


@frozen
class StoredEvent:
    """One row of the log, as stored."""

    seq: int
    event_id: str
    stream: str
    stream_version: int
    type: str
    schema_version: int
    at: str
    recorded_at: str
    payload: str
    hash: str

    def event(self, *, checked: bool = False) -> Event:
        """The event; ``checked`` re-validates the payload as at ingest (audit)."""
        return decode_stored(self.type, self.schema_version, self.event_id, self.at, self.payload, checked=checked)


@frozen
class VerifyReport:
    """Outcome of recomputing the hash chain; ``problem`` names the first bad event."""

    events_checked: int
    head_hash: str
    first_bad_seq: int | None = None
    first_bad_event: str | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _after_prefix(prefix: str) -> str:
    """The least string above every string that starts with ``prefix``: ``market:`` -> ``market;``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _head(conn: Connection) -> tuple[int, str]:
    """(seq, hash) of the last stored event, or (0, GENESIS) for an empty log."""
    last = conn.execute(select(events.c.seq, events.c.hash).order_by(events.c.seq.desc()).limit(1)).first()
    return (last.seq, last.hash) if last else (0, GENESIS)


def _row(r) -> StoredEvent:
    return StoredEvent(*r)  # the table's columns are in StoredEvent's field order


def _rehash(previous: str, row: StoredEvent) -> str:
    return chain_hash(
        previous, seq=row.seq, event_id=row.event_id, stream=row.stream, stream_version=row.stream_version,
        type=row.type, schema_version=row.schema_version, at=row.at, recorded_at=row.recorded_at, payload=row.payload,
    )


class Writer:
    """A write transaction holding the log's lock: read the head, check, append."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.head_seq, self.head_hash = _head(conn)
        self._versions: dict[str, int] = {}
        self._versions_at_start: dict[str, int] = {}
        """each stream's version when this transaction first looked at it"""

    def existing(self, event_ids: Iterable[str]) -> dict[str, StoredEvent]:
        """Stored rows for any of these ids."""
        ids = list(dict.fromkeys(event_ids))
        found: dict[str, StoredEvent] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            for r in self.conn.execute(select(events).where(events.c.event_id.in_(chunk))):
                found[r.event_id] = _row(r)
        return found

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

    def append(
        self, batch: Sequence[Event], recorded_at: str, expected_versions: Mapping[str, int] | None = None
    ) -> list[StoredEvent]:
        """Append new events (idempotent on id); refuse stale expected versions."""
        self.check_expected(expected_versions)
        stored = self.existing(e.id for e in batch)
        seen: dict[str, Event] = {}
        for event in batch:
            previous = seen.get(event.id) or (stored[event.id].event() if event.id in stored else None)
            if previous is not None:
                if previous != event:
                    raise DuplicateEventConflict(
                        "id is already stored with different content", where=f"event {event.id}"
                    )
                continue
            seen[event.id] = event
        return [StoredEvent(*row) for row in self._append_rows(list(seen.values()), recorded_at)]

    def check_expected(self, expected_versions: Mapping[str, int] | None) -> None:
        """``ConcurrencyConflict`` unless every named stream is at the expected version."""
        for stream, expected in (expected_versions or {}).items():
            actual = self.stream_version(stream)
            if actual != expected:
                raise ConcurrencyConflict(stream, expected, actual)

    def append_new(self, batch: Sequence[Event], recorded_at: str) -> int:
        """Insert events the caller has already checked are not stored; returns how many.

        The hot path of every append: rows are built as plain tuples and handed
        to the driver in one statement (``executemany``, or ``COPY``).
        """
        return len(self._append_rows(batch, recorded_at))

    def _append_rows(self, batch: Sequence[Event], recorded_at: str) -> list[tuple]:
        streams = [stream_of(event) for event in batch]
        self._prefetch_versions(set(streams))
        rows: list[tuple] = []
        if batch:
            try:
                self._insert(self._rows(batch, streams, recorded_at, rows))
            except IntegrityError as exc:
                raise ConcurrencyConflict.refused_by_database(rows[0][2], exc.orig) from exc
        return rows

    def _rows(self, batch: Sequence[Event], streams: list[str], recorded_at: str, into: list[tuple]) -> Iterator[tuple]:
        """The batch's rows, each numbered, versioned and chained to the one before.

        Yielded one by one as they are built (and kept in ``into``), so the
        database takes each row while the next is encoded and hashed: on
        PostgreSQL the server indexes the ``COPY`` stream on its own core.
        """
        versions, seq, head = self._versions, self.head_seq, self.head_hash
        last_at, at_text = None, ""
        for event, stream in zip(batch, streams):
            version = versions[stream] + 1
            versions[stream] = version
            seq += 1
            if event.at != last_at:  # events come in bursts at one time (both sides of a fill)
                last_at, at_text = event.at, format_time(event.at)
            payload = encode_payload(event)
            head = chain_hash(head, seq, event.id, stream, version, event.TYPE, SCHEMA_VERSION, at_text, recorded_at, payload)
            row = (seq, event.id, stream, version, event.TYPE, SCHEMA_VERSION, at_text, recorded_at, payload, head)
            into.append(row)
            yield row
        self.head_seq, self.head_hash = seq, head

    def _insert(self, rows: Iterable[tuple]) -> None:
        """SQLite: one ``executemany``. PostgreSQL: ``COPY``. Both on the driver's connection, in this transaction."""
        driver = self.conn.connection.driver_connection
        try:
            if self.conn.dialect.name != "postgresql":
                driver.executemany(f"INSERT INTO events ({_COLUMNS}) VALUES ({', '.join(['?'] * 10)})", rows)
                return
            with driver.cursor() as cursor, cursor.copy(f"COPY events ({_COLUMNS}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        except self.conn.dialect.loaded_dbapi.IntegrityError as exc:
            raise IntegrityError("INSERT INTO events", None, exc) from exc

    def _prefetch_versions(self, streams: set[str]) -> None:
        """Current versions of the batch's streams, in a few queries rather than one each."""
        missing = sorted(streams - set(self._versions))
        for start in range(0, len(missing), _CHUNK):
            chunk = missing[start : start + _CHUNK]
            query = (
                select(events.c.stream, func.max(events.c.stream_version))
                .where(events.c.stream.in_(chunk))
                .group_by(events.c.stream)
            )
            found = dict(self.conn.execute(query).all())
            for stream in chunk:
                self._versions[stream] = self._versions_at_start[stream] = found.get(stream, 0)


class EventStore:
    """The log on one database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    def require_schema(self) -> None:
        if not inspect(self.engine).has_table("events"):
            raise NotInitialised(f"no ledger schema in {self.engine.url!r}: run `ledger init` first")

    @contextmanager
    def writer(self) -> Iterator[Writer]:
        """One write transaction under the log's lock; commits on success only."""
        conn = self.engine.connect()
        if self.dialect == "sqlite":
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        try:
            with conn.begin():
                if self.dialect == "postgresql":
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK_KEY})")
                    # The table grows inside this transaction, unseen by the planner's statistics (and the
                    # driver prepares repeated statements with a plan chosen while it was small): every
                    # look-up here is keyed, so it must go through its unique index, never re-read the table.
                    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
                else:
                    conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_WRITER_CACHE_KIB}")
                yield Writer(conn)
        finally:
            if self.dialect == "sqlite":
                with suppress(DBAPIError):  # a cache size is no reason to mask what failed
                    conn.exec_driver_sql("PRAGMA cache_size=-2000")  # SQLite's default again: reads need no more
            conn.close()

    def append(
        self, batch: Sequence[Event], recorded_at: str, expected_versions: Mapping[str, int] | None = None
    ) -> list[StoredEvent]:
        with self.writer() as w:
            return w.append(batch, recorded_at, expected_versions)

    def head(self) -> tuple[int, str]:
        with self.engine.connect() as conn:
            return _head(conn)

    def stream_version(self, stream: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(events.c.stream_version)).where(events.c.stream == stream)).scalar() or 0

    def read(
        self,
        *,
        after_seq: int = 0,
        upto_seq: int | None = None,
        upto_at: str | None = None,
        known_at: str | None = None,
        types: Sequence[str] | None = None,
        batch_size: int = 5000,
    ) -> Iterator[StoredEvent]:
        """Rows in sequence order, streamed in batches (bounded memory)."""
        query = select(events).where(events.c.seq > after_seq).order_by(events.c.seq)
        if upto_seq is not None:
            query = query.where(events.c.seq <= upto_seq)
        if upto_at is not None:
            query = query.where(events.c.at <= upto_at)
        if known_at is not None:
            query = query.where(events.c.recorded_at <= known_at)
        if types:
            query = query.where(events.c.type.in_(list(types)))
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(query)
            for r in result:
                yield _row(r)

    def read_batches(
        self, *, after_seq: int = 0, upto_seq: int | None = None, batch_size: int = 5000
    ) -> Iterator[list[tuple[int, str, int, str]]]:
        """Bare rows ``(seq, type, schema_version, payload)`` in sequence order, in batches.

        The replay fast path's read: plain tuples, only the columns every row's
        fold needs (a fold asks ``identities`` for the event id and time of
        the few rows that need them: measured, fetching those two texts for
        every row costs a third of the read), streamed (a server-side cursor
        on PostgreSQL), so memory stays bounded by one batch however long the
        log is.
        """
        sql = f"SELECT {_REPLAY_COLUMNS} FROM events WHERE seq > {int(after_seq)}"
        if upto_seq is not None:
            sql += f" AND seq <= {int(upto_seq)}"
        sql += " ORDER BY seq"
        with self.engine.connect() as conn:
            driver = conn.connection.driver_connection
            # PostgreSQL: a named (server-side) cursor streams; SQLite's cursor steps lazily anyway
            cursor = driver.cursor(name="ledger_replay") if self.dialect == "postgresql" else driver.cursor()
            try:
                cursor.execute(sql)
                while rows := cursor.fetchmany(batch_size):
                    yield rows
            finally:
                cursor.close()

    def identities(self, seqs: Iterable[int]) -> dict[int, tuple[str, str]]:
        """``seq -> (event_id, at)`` of these rows (primary-key reads, a query per 500), for ``read_batches``' readers."""
        wanted = sorted({int(seq) for seq in seqs})
        found: dict[int, tuple[str, str]] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(wanted), _CHUNK):
                query = select(events.c.seq, events.c.event_id, events.c.at).where(events.c.seq.in_(wanted[i:i + _CHUNK]))
                found.update((seq, (event_id, at)) for seq, event_id, at in conn.execute(query))
        return found

    def read_stream(self, stream: str, *, after_version: int = 0, upto_seq: int | None = None) -> Iterator[StoredEvent]:
        """One stream's rows after ``after_version`` in order, through the ``(stream, stream_version)`` index."""
        query = (
            select(events)
            .where(events.c.stream == stream, events.c.stream_version > after_version)
            .order_by(events.c.stream_version)
        )
        if upto_seq is not None:
            query = query.where(events.c.seq <= upto_seq)
        with self.engine.connect() as conn:
            for r in conn.execution_options(stream_results=True, yield_per=1000).execute(query):
                yield _row(r)

    def stream_versions(self, prefix: str, upto_seq: int | None = None) -> dict[str, int]:
        """Version of every stream whose name starts with ``prefix``, after event ``upto_seq`` (walks their index range)."""
        end = _after_prefix(prefix)
        query = (
            select(events.c.stream, func.max(events.c.stream_version))
            .where(events.c.stream >= prefix, events.c.stream < end)
            .group_by(events.c.stream)
        )
        if upto_seq is not None:
            query = query.where(events.c.seq <= upto_seq)
        with self.engine.connect() as conn:
            return dict(conn.execute(query).all())

    def stream_names(self, prefix: str) -> list[str]:
        """Every stream whose name starts with ``prefix``, sorted.

        A loose index scan: one index seek per stream found (``min(stream)``
        above the last one), never a walk over the streams' events.
        """
        end = _after_prefix(prefix)
        names: list[str] = []
        with self.engine.connect() as conn:
            current = prefix
            while (current := conn.execute(
                select(func.min(events.c.stream)).where(events.c.stream > current, events.c.stream < end)
            ).scalar()) is not None:
                names.append(current)
        return names

    def row_at(self, seq: int) -> StoredEvent | None:
        """The row with sequence number ``seq`` (a primary-key read)."""
        return self._first(select(events).where(events.c.seq == seq))

    def stream_row(self, stream: str, version: int) -> StoredEvent | None:
        """The row at ``version`` of ``stream`` (an index point read)."""
        return self._first(select(events).where(events.c.stream == stream, events.c.stream_version == version))

    def last_in_stream(self, stream: str, upto_seq: int | None = None) -> StoredEvent | None:
        """The newest row of ``stream`` at or before ``upto_seq``.

        Walks the ``(stream, stream_version)`` index backwards from the
        stream's end: O(log n) at the head; as of an earlier point it also
        steps over the stream's rows appended after it.
        """
        query = select(events).where(events.c.stream == stream).order_by(events.c.stream_version.desc()).limit(1)
        if upto_seq is not None:
            query = query.where(events.c.seq <= upto_seq)
        return self._first(query)

    def get(self, event_id: str) -> StoredEvent | None:
        return self._first(select(events).where(events.c.event_id == event_id))

    def _first(self, query) -> StoredEvent | None:
        with self.engine.connect() as conn:
            r = conn.execute(query).first()
        return _row(r) if r else None

    def last_seq_at_or_before(self, at: str) -> int:
        """The last sequence number whose business time is <= ``at`` (0 if none).

        Business time never decreases along the log, so this is a binary
        search over the primary key: O(log n) point reads, no index on ``at``.
        """
        with self.engine.connect() as conn:
            def at_of(seq: int) -> str:
                return conn.execute(select(events.c.at).where(events.c.seq == seq)).scalar_one()

            low, high = 0, conn.execute(select(func.max(events.c.seq))).scalar() or 0
            while low < high:
                middle = (low + high + 1) // 2
                if at_of(middle) <= at:
                    low = middle
                else:
                    high = middle - 1
            return low

    def verify(self) -> VerifyReport:
        """Recompute the hash chain from the first event; stop at the first break."""
        previous, expected_seq, count = GENESIS, 1, 0
        for row in self.read():
            problem = None
            if row.seq != expected_seq:
                problem = f"sequence jumps from {expected_seq - 1} to {row.seq}: an event is missing"
            elif _rehash(previous, row) != row.hash:
                problem = "hash does not match its content and the previous event: the row was altered or inserted"
            if problem:
                return VerifyReport(count, previous, row.seq, row.event_id, problem)
            previous, expected_seq, count = row.hash, expected_seq + 1, count + 1
        return VerifyReport(count, previous)

    # -- snapshots: a cache of folds, checked against the log on load --------
    def save_snapshot(self, scope: str, seq: int, event_hash: str, fmt: int, state: str) -> None:
        self.save_snapshots([(scope, state)], seq, event_hash, fmt)

    def save_snapshots(self, rows: Sequence[tuple[str, str]], seq: int, event_hash: str, fmt: int) -> None:
        """Several snapshots ((scope, state) pairs) of one point of the log, in one transaction."""
        if rows:
            with self.engine.begin() as conn:
                conn.execute(snapshots.insert(), [
                    {"scope": scope, "seq": seq, "event_hash": event_hash, "format": fmt, "state": state} for scope, state in rows
                ])

    def prune_snapshots(self, scope: str, *, keep_newest: int, keep_one_per: int) -> int:
        """Delete snapshots of ``scope`` but the newest few and the first in each span of ``keep_one_per`` events.

        Snapshots are a cache (the log is the truth); without pruning, whole-state
        snapshots would outgrow the log. What is kept bounds any as-of replay
        to ``keep_one_per`` events after its snapshot. Returns how many went.
        """
        s = snapshots.c
        newest = select(s.id).where(s.scope == scope).order_by(s.seq.desc(), s.id.desc()).limit(keep_newest)
        firsts = select(func.min(s.id)).where(s.scope == scope).group_by(s.seq // keep_one_per)
        with self.engine.begin() as conn:
            kept = {r[0] for r in conn.execute(newest)} | {r[0] for r in conn.execute(firsts)}
            doomed = [r[0] for r in conn.execute(select(s.id).where(s.scope == scope)) if r[0] not in kept]
            for start in range(0, len(doomed), _CHUNK):
                conn.execute(snapshots.delete().where(s.id.in_(doomed[start:start + _CHUNK])))
        return len(doomed)

    def snapshots_like(self, scope_prefix: str, fmt: int) -> list[tuple[str, int, str]]:
        """Every stored snapshot whose scope starts with ``scope_prefix``: (scope, seq, state), by seq."""
        query = (
            select(snapshots.c.scope, snapshots.c.seq, snapshots.c.state)
            .where(snapshots.c.scope.startswith(scope_prefix, autoescape=True), snapshots.c.format == fmt)
            .order_by(snapshots.c.seq, snapshots.c.id)
        )
        with self.engine.connect() as conn:
            return [(r.scope, r.seq, r.state) for r in conn.execute(query)]

    def snapshots(self, scope: str, fmt: int) -> list[tuple[int, str]]:
        """Every stored snapshot of ``scope`` in ``fmt``: (seq, state)."""
        query = (
            select(snapshots.c.seq, snapshots.c.state)
            .where(snapshots.c.scope == scope, snapshots.c.format == fmt)
            .order_by(snapshots.c.seq)
        )
        with self.engine.connect() as conn:
            return [(r.seq, r.state) for r in conn.execute(query)]

    def latest_snapshot_seq(self, scope: str, fmt: int) -> int:
        """Sequence number of the newest snapshot of ``scope`` (0 when none)."""
        query = select(func.max(snapshots.c.seq)).where(snapshots.c.scope == scope, snapshots.c.format == fmt)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar() or 0

    def latest_snapshot(self, scope: str, fmt: int, upto_seq: int | None = None):
        """The newest snapshot of ``scope`` at or before ``upto_seq`` whose event hash still matches."""
        query = (
            select(snapshots.c.seq, snapshots.c.state, snapshots.c.event_hash)
            .where(snapshots.c.scope == scope, snapshots.c.format == fmt)
            .order_by(snapshots.c.seq.desc())
        )
        if upto_seq is not None:
            query = query.where(snapshots.c.seq <= upto_seq)
        with self.engine.connect() as conn:
            for snap in conn.execute(query.limit(3)):
                stored = conn.execute(select(events.c.hash).where(events.c.seq == snap.seq)).scalar()
                if stored == snap.event_hash:
                    return snap.seq, snap.state
        return None
