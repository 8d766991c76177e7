"""The log on a SQL database (SQLite or PostgreSQL): every dialect branch of the store is here.

Appends happen in one transaction per batch while holding the log's write lock
(``BEGIN IMMEDIATE`` on SQLite, a transaction-scoped advisory lock on
PostgreSQL). Inside: idempotency and optimistic concurrency (``Writer``), then
one multi-row insert (``executemany``, or ``COPY``). The unique
``(stream, stream_version)`` and ``event_id`` constraints back these checks up
in the database itself; triggers from the migrations refuse UPDATE and DELETE.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Select, func, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError

from ledger.errors import KeyUnusable, NotInitialised, UnsealedLog
from ledger.store import migrate
from ledger.store.engine import make_engine
from ledger.store.hashchain import GENESIS
from ledger.store.identity import load_key_schedule
from ledger.store.key_schedule import KeySchedule, rotation_message
from ledger.store.records import Row, StoredEvent, VerifyReport, verify_rows
from ledger.store.schema import COMMON_TYPES, RARE_ROWS, events, key_rotations, seals
from ledger.store.seals import Keyring
from ledger.store.snapshots import SqlSnapshots
from ledger.store.writer import AppendsInOneTransaction, Ending, UniqueKeyRefused, Writer, with_digest_on_last

__all__ = ["SqlEventStore", "SqlWriter", "SQLITE_WRITER_CACHE_KIB", "read_query", "STORED"]

_ADVISORY_LOCK_KEY = 7_423_001
_COLUMNS = "seq, event_id, stream, stream_version, type, schema_version, at, recorded_at, payload, hash"
STORED = tuple(events.c[name] for name in _COLUMNS.split(", "))
"""A stored row's columns, in ``StoredEvent``'s field order (the table also has ``snapshot_digest``, read apart)."""
_CHUNK = 500
_ARRAY_PART = 10_000
"""Values per array parameter on PostgreSQL (``_one_of``): an ingest's chunk in one, an API batch of any size in a few."""
_REPLAY_COLUMNS = "seq, type, schema_version, payload"
SQLITE_WRITER_CACHE_KIB = 65_536
"""SQLite page cache while appending (KiB; filled only as pages are used).

The log's two unique indexes take inserts at random places; SQLite's default
2 MiB cache makes a large append re-read index pages at every turn (measured:
the insert alone runs ~25% faster at 1,000,000 events with 64 MiB). Only the
writer gets it: a replay scans the log once and would only fill it.
"""


def _after_prefix(prefix: str) -> str:
    """The least string above every string that starts with ``prefix``: ``market:`` -> ``market;``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _head(conn: Connection) -> tuple[int, str]:
    """(seq, hash) of the last stored event, or (0, GENESIS) for an empty log."""
    last = conn.execute(select(events.c.seq, events.c.hash).order_by(events.c.seq.desc()).limit(1)).first()
    return (last.seq, last.hash) if last else (0, GENESIS)


def _database_now(conn: Connection) -> datetime | None:
    """The database's clock: PostgreSQL's (the server's, shared by every writer; now, not the transaction's start);
    None for an embedded SQLite file, whose clock is this machine's (the application's clock reads it)."""
    if conn.dialect.name != "postgresql":
        return None
    now = conn.exec_driver_sql("SELECT clock_timestamp()").scalar()
    assert isinstance(now, datetime) and now.tzinfo is not None, "timestamptz comes back aware"
    return now.astimezone(UTC)


def _one_of(conn: Connection, query: str, values: list[str]) -> Iterator[Any]:
    """The rows of ``query``, SQL in which ``{one_of}`` says "this column is one of ``values``", over parts of them.

    On the driver's connection, in this transaction, as the insert: the
    write path asks at every chunk of an append, and SQLAlchemy's own work
    per call was most of the cost. PostgreSQL: one array parameter
    (``= ANY(%b)``) per ``_ARRAY_PART`` values, where an ``IN`` of hundreds
    of parameters was rendered, cast and parsed again at every call (the
    lookup of stored ids was 9.8% of an ingest there, py-spy); sent in the
    binary format, which quotes nothing (psycopg's text form of 2,000 ids took
    1.36 ms to build, the binary 0.29). SQLite, which
    has no arrays: ``IN`` over parts of ``_CHUNK`` values, under its limit of
    parameters per statement (SQLAlchemy's expanding of it and its row
    processing: 3.9 against 1.5 ms per chunk of 2,000 ids).
    """
    driver = conn.connection.driver_connection
    assert driver is not None, "a connection in a transaction has its driver's connection"
    if conn.dialect.name == "postgresql":  # (parts of _ARRAY_PART bound the planning of any one query)
        for start in range(0, len(values), _ARRAY_PART):
            yield from driver.execute(query.format(one_of="= ANY(%b)"), (values[start : start + _ARRAY_PART],))
        return
    for start in range(0, len(values), _CHUNK):
        part = values[start : start + _CHUNK]
        yield from driver.execute(query.format(one_of=f"IN ({', '.join(['?'] * len(part))})"), part)


def _row(r: Any) -> StoredEvent:
    return StoredEvent(*r)  # the table's columns are in StoredEvent's field order


class SqlWriter(Writer):
    """A write transaction on one connection, under the log's lock."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        super().__init__(*_head(conn))

    def database_now(self) -> datetime | None:
        self.settle()
        return _database_now(self.conn)

    def head_recorded_at(self) -> str | None:
        if not self.head_seq:
            return None
        self.settle()
        return self.conn.execute(select(events.c.recorded_at).where(events.c.seq == self.head_seq)).scalar()

    def _stored(self, event_ids: list[str]) -> dict[str, StoredEvent]:
        query = f"SELECT {_COLUMNS} FROM events WHERE event_id {{one_of}}"
        return {r[1]: _row(r) for r in _one_of(self.conn, query, event_ids)}

    def _current_versions(self, streams: list[str]) -> dict[str, int]:
        query = "SELECT stream, max(stream_version) FROM events WHERE stream {one_of} GROUP BY stream"
        return dict(_one_of(self.conn, query, streams))

    def _insert(self, rows: Iterable[Row], snapshot_digest: str | None = None) -> Ending | None:
        """SQLite: one ``executemany``. PostgreSQL: ``COPY``, whose end (the server inserting the last rows sent,
        about 4% of an ingest spent waiting) is left to a thread: ``_CopyEnding``. Both on the driver's connection,
        in this transaction. With ``snapshot_digest``, the last row carries it (its other rows an empty one)."""
        driver = self.conn.connection.driver_connection
        assert driver is not None, "a connection in a transaction has its driver's connection"
        columns, values = (_COLUMNS, rows) if snapshot_digest is None else (
            f"{_COLUMNS}, snapshot_digest", with_digest_on_last(rows, snapshot_digest))
        refused = self.conn.dialect.loaded_dbapi.IntegrityError
        try:
            if self.conn.dialect.name != "postgresql":
                marks = ", ".join(["?"] * len(columns.split(", ")))
                driver.executemany(f"INSERT INTO events ({columns}) VALUES ({marks})", values)
                return None
            cursor = driver.cursor()
            copying = cursor.copy(f"COPY events ({columns}) FROM STDIN")
            copy = copying.__enter__()
            ending: _CopyEnding | None = None
            try:
                for row in values:
                    copy.write_row(row)
                ending = _CopyEnding(copying, cursor, refused)
                ending.start()
            except BaseException as exc:  # an interrupt included: the COPY is ended before anything else is done
                if ending is not None and ending.started:
                    ending.join()  # its thread ends it (how is of no account now: what failed first is told)
                else:
                    with suppress(Exception):
                        copying.__exit__(type(exc), exc, exc.__traceback__)
                    cursor.close()
                raise
        except refused as exc:
            raise UniqueKeyRefused(exc) from exc
        return ending.wait


class _CopyEnding:
    """A ``COPY`` whose rows are all sent, ending on its own thread while the caller goes on.

    The thread only ends the ``COPY`` (psycopg's ``copy_end``, then the wait
    for the server's answer, which releases the interpreter's lock). The
    writer calls ``wait`` before it next uses the connection (``Writer.settle``),
    and again after an interrupt cut a wait short (``Writer.abandon``), so the
    connection is never used while the thread is in it. (psycopg 3.3 also
    holds its connection lock until the ``COPY`` has ended.)
    """

    def __init__(self, copying: AbstractContextManager[Any], cursor: Any, refused: type[Exception]) -> None:
        self._copying, self._cursor, self._refused = copying, cursor, refused
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._end, name="ledger-copy-end", daemon=True)

    @property
    def started(self) -> bool:
        return self._thread.ident is not None

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._thread.join()

    def _end(self) -> None:
        try:
            try:
                self._copying.__exit__(None, None, None)
            finally:
                self._cursor.close()
        except BaseException as exc:  # handed to the writer's thread by ``wait``
            self._error = exc

    def wait(self) -> None:
        """Return once the ``COPY`` has ended; ``UniqueKeyRefused`` if a unique key refused a row. An interrupt while
        waiting leaves it under way (the writer waits again before its rollback)."""
        self._thread.join()
        error, self._error = self._error, None
        if isinstance(error, self._refused):
            raise UniqueKeyRefused(error) from error
        if error is not None:
            raise error


def read_query(
    *, after_seq: int = 0, upto_seq: int | None = None, upto_at: str | None = None, known_at: str | None = None,
    types: Sequence[str] | None = None,
) -> Select[Any]:
    """The query ``SqlEventStore.read`` runs: rows in sequence order, filtered as asked.

    Asked for rare kinds only, it repeats the partial index's predicate
    (``RARE_ROWS``): SQLite then reads the index of the rare rows instead of
    the whole log (it uses a partial index only for a query that repeats its
    predicate; PostgreSQL would prove it from the kinds asked).
    """
    query = select(*STORED).where(events.c.seq > after_seq).order_by(events.c.seq)
    if upto_seq is not None:
        query = query.where(events.c.seq <= upto_seq)
    if upto_at is not None:
        query = query.where(events.c.at <= upto_at)
    if known_at is not None:
        query = query.where(events.c.recorded_at <= known_at)
    if types:
        query = query.where(events.c.type.in_(list(types)))
        if not set(types) & set(COMMON_TYPES):
            query = query.where(text(RARE_ROWS))
    return query


def _refuse_a_retired_key(schedule: KeySchedule) -> None:
    retired = schedule.retired_at
    if retired is not None:
        raise UnsealedLog(f"key {schedule.current.key_id} was retired after event #{retired}: it verifies but seals "
                          f"nothing more; appends need the newest key ({schedule.newest.key_id}); nothing was stored")


def _why_not(schedule: KeySchedule, seq_from: int, key_id: str) -> str:
    """Why a seal does not verify, as far as its row says."""
    in_force = schedule.key_for(seq_from)
    if key_id != in_force.key_id:
        return f"made with key {key_id}, not {in_force.key_id}, the key in force there"
    return "its signature is forged, or it names another ledger"


class SqlEventStore(AppendsInOneTransaction):
    """The log, and its snapshot cache, on one database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, keyring: Keyring | None = None) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.keyring = keyring
        self.snapshots = SqlSnapshots(engine, keyring)  # reads the key schedule itself, in its own transactions
        self._schema_checked = False

    @classmethod
    def open(cls, url: str, keyring: Keyring | None = None) -> SqlEventStore:
        return cls(make_engine(url), keyring)

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return self.engine.url.render_as_string(hide_password=True)

    def address(self) -> str | None:
        """The URL another process opens this database with (its password kept); None for an in-memory SQLite one."""
        url = self.engine.url
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            return None
        return url.render_as_string(hide_password=False)

    def initialise(self) -> None:
        """Create or upgrade the schema (Alembic ``upgrade head``); safe to repeat."""
        migrate.upgrade(self.engine)
        self._schema_checked = False

    def close(self) -> None:
        self.engine.dispose()

    def require_schema(self) -> None:
        """The schema must exist and be at the revision this code knows: an older one is migrated by ``ledger init``."""
        if self._schema_checked:
            return
        if not inspect(self.engine).has_table("events"):
            raise NotInitialised(f"no ledger schema in {self.url}: run `ledger init` first")
        with self.engine.connect() as conn:
            revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        if revision != migrate.head_revision():
            raise NotInitialised(
                f"the ledger schema in {self.url} is at revision {revision}, this ledger needs {migrate.head_revision()}: "
                "run `ledger init` to migrate it (nothing is lost: migrations only add)"
            )
        self._schema_checked = True

    @contextmanager
    def _write_locked(self) -> Iterator[Connection]:
        """A transaction holding the log's write lock (SQLite ``BEGIN IMMEDIATE``, PostgreSQL an advisory lock)."""
        conn = self.engine.connect()
        if self.dialect == "sqlite":
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        try:
            with conn.begin():
                if self.dialect == "postgresql":
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK_KEY})")
                yield conn
        finally:
            conn.close()

    @contextmanager
    def writer(self) -> Iterator[SqlWriter]:
        """One write transaction under the log's lock; commits on success only."""
        with self._write_locked() as conn:
            if self.dialect == "postgresql":
                # The table grows inside this transaction, unseen by the planner's statistics (and the
                # driver prepares repeated statements with a plan chosen while it was small): every
                # look-up here is keyed, so it must go through its unique index, never re-read the table.
                conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            else:
                conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_WRITER_CACHE_KIB}")
            writer: SqlWriter | None = None
            try:
                writer = SqlWriter(conn)
                schedule = None if self.keyring is None else load_key_schedule(conn, self.keyring)
                sealed_to = self._sealed_to(conn, writer.head_seq, writer.head_hash, schedule)
                yield writer
                writer.settle()  # the last insert ended (or refused), before the seal and the commit
                if schedule is not None and writer.head_seq > sealed_to:
                    self._seal(conn, schedule, sealed_to + 1, writer.head_seq, writer.head_hash)
            finally:
                if writer is not None:
                    writer.abandon()  # after a failure, the last insert ends before the rollback (a no-op otherwise)
                if self.dialect == "sqlite":
                    # a cache size is no reason to mask what failed (an interrupt mid-insert leaves the connection
                    # invalid, and resetting it then raises PendingRollbackError, not a driver error)
                    with suppress(SQLAlchemyError):
                        conn.exec_driver_sql("PRAGMA cache_size=-2000")  # SQLite's default again: reads need no more

    def settled(self) -> datetime | None:
        """Wait until no append is in flight: take the log's write lock, and let it go at once.

        Every append takes its recording time after taking this lock, so once
        this returns, nothing committed later can carry a recording time
        earlier than the database's time it returns (read under the lock): a
        known-at answer for a time before it is final.
        """
        with self._write_locked() as conn:
            return _database_now(conn)

    def _sealed_to(self, conn: Connection, head_seq: int, head_hash: str, schedule: KeySchedule | None) -> int:
        """Where the seals this writer builds on end, checked (``UnsealedLog`` naming what is wrong, nothing stored).

        Without a key: a ledger whose appends are sealed takes none (its keyed
        appends would refuse every row after). With a key: the last seal must
        verify with it and name its event's hash, every row after it is
        refused (written without the key, or forged), and a log never sealed
        is sealed only by ``seal_unsealed`` (an operator vouching for it), never
        by an append; an empty log needs nobody to vouch for it. A retired key
        (a rotation handed over to a newer one) appends nothing.
        """
        if schedule is None:
            last = conn.execute(select(func.max(seals.c.seq_to))).scalar()
            if last is not None:
                raise UnsealedLog(f"this ledger's appends are sealed with a key (the last seal covers event #{last}): "
                                  "give its key (--key or $LEDGER_KEY) to append; nothing was stored")
            return head_seq
        _refuse_a_retired_key(schedule)
        sealed_to = self._last_valid_seal(conn, head_seq, head_hash, schedule)
        if sealed_to < head_seq:
            first = sealed_to + 1
            vouch = ("" if sealed_to else "; a keyed ledger never vouches for history it did not seal: after `ledger "
                     "verify` and `ledger audit`, an operator vouches for it with `ledger seal`")
            raise UnsealedLog(
                f"events #{first} to #{head_seq} are not sealed: they were written without the key (or forged)"
                f"{vouch}; nothing was stored. Run `ledger verify`; a keyed append never seals over rows it did not write"
            )
        return sealed_to

    @staticmethod
    def _last_valid_seal(conn: Connection, head_seq: int, head_hash: str, schedule: KeySchedule) -> int:
        """The last event the seals cover (0: none), after checking the last seal: it verifies with the key in force
        for its events, names this ledger, and its event carries the hash it names (``UnsealedLog`` otherwise). A seal
        past the head is evidence that the tail was removed: refused too, never built on."""
        beyond = conn.execute(select(func.max(seals.c.seq_to))).scalar()
        if beyond is not None and beyond > head_seq:
            raise UnsealedLog(f"a seal covers events up to #{beyond}, past the head #{head_seq}: events after "
                              f"#{head_seq} were removed (or the seal forged); nothing was stored. Run `ledger verify`")
        last = conn.execute(
            select(seals.c.seq_from, seals.c.seq_to, seals.c.head_hash, seals.c.key_id, seals.c.signature)
            .where(seals.c.seq_to <= head_seq).order_by(seals.c.seq_to.desc()).limit(1)).first()
        if last is None:
            return 0
        if not schedule.seal_verifies(last.seq_from, last.seq_to, last.head_hash, last.signature):
            raise UnsealedLog(f"the seal of events #{last.seq_from} to #{last.seq_to} does not verify with this key "
                              f"({_why_not(schedule, last.seq_from, last.key_id)}): the rows it claims to cover are "
                              "not proven; nothing was stored. Run `ledger verify`")
        stored = head_hash if last.seq_to == head_seq else conn.execute(
            select(events.c.hash).where(events.c.seq == last.seq_to)).scalar()
        if stored != last.head_hash:
            raise UnsealedLog(f"event #{last.seq_to} does not carry the hash its seal names: the log was rewritten; "
                              "nothing was stored. Run `ledger verify`")
        return int(last.seq_to)

    def seal_unsealed(self) -> tuple[int, int] | None:
        """An operator vouching for the log as it is: seal every event after the last valid seal up to the head, with
        this key (``ledger seal``); (first, last) sealed, or None when all is sealed. Refused (``UnsealedLog``) when
        the last seal does not verify: a forged seal is never built on."""
        if self.keyring is None or not self.keyring.can_seal:
            raise KeyUnusable("sealing needs the private key (--key or $LEDGER_KEY)")
        with self._write_locked() as conn:
            head_seq, head_hash = _head(conn)
            schedule = load_key_schedule(conn, self.keyring)
            _refuse_a_retired_key(schedule)
            sealed_to = self._last_valid_seal(conn, head_seq, head_hash, schedule)
            if sealed_to == head_seq:
                return None
            self._seal(conn, schedule, sealed_to + 1, head_seq, head_hash)
            return sealed_to + 1, head_seq

    def rotate_key(self, new: Keyring) -> tuple[int, str]:
        """Hand sealing over from this key to ``new`` after the head: a record both keys sign (``ledger rotate-key``).

        Refused (``UnsealedLog``, nothing stored) unless this key is the newest
        and every event is sealed: a key hands over only history it proved.
        Returns (the last event the old key seals, the new key's id).
        """
        if self.keyring is None or not self.keyring.can_seal or not new.can_seal:
            raise KeyUnusable("a key rotation needs both private keys: the current one (--key or $LEDGER_KEY) hands "
                              "over, the new one accepts")
        if new.public_hex == self.keyring.public_hex:
            raise KeyUnusable(f"{new.source} is the key in use: rotate to a new key (`ledger keygen`)")
        with self._write_locked() as conn:
            head_seq, head_hash = _head(conn)
            schedule = load_key_schedule(conn, self.keyring)
            _refuse_a_retired_key(schedule)
            if any(key.public_hex == new.public_hex for key in schedule.keys):
                raise KeyUnusable(f"key {new.key_id} sealed this ledger before: a retired key never comes back")
            sealed_to = self._last_valid_seal(conn, head_seq, head_hash, schedule)
            if sealed_to < head_seq:
                raise UnsealedLog(f"events #{sealed_to + 1} to #{head_seq} are not sealed: a key hands over only "
                                  "history it sealed (run `ledger verify`, then `ledger seal`); nothing was stored")
            message = rotation_message(schedule.ledger_id, head_seq, head_hash, self.keyring.public_hex,
                                       new.public_hex)
            conn.execute(key_rotations.insert().values(
                new_key_id=new.key_id, after_seq=head_seq, head_hash=head_hash, old_public=self.keyring.public_hex,
                new_public=new.public_hex, old_signature=self.keyring.sign(message),
                new_signature=new.sign(message)))
        return head_seq, new.key_id

    def key_schedule(self) -> KeySchedule | None:
        """The keys of this ledger as the configured key proves them (None without a key); ``UnsealedLog`` when a
        rotation record does not hold."""
        if self.keyring is None:
            return None
        with self.engine.connect() as conn:
            return load_key_schedule(conn, self.keyring)

    def unproven_tail(self) -> tuple[int, str] | None:
        """With a key, the first event no valid seal proves and why (a read must not show it), or None; without a
        key, None (nothing can be proven)."""
        if self.keyring is None:
            return None
        with self.engine.connect() as conn:
            head_seq, head_hash = _head(conn)
            try:
                sealed_to = self._last_valid_seal(conn, head_seq, head_hash, load_key_schedule(conn, self.keyring))
            except UnsealedLog as exc:
                return 1, str(exc).replace("; nothing was stored", "")
        if sealed_to < head_seq:
            return sealed_to + 1, (f"events #{sealed_to + 1} to #{head_seq} are not sealed: written without the key, or "
                                   "forged. Run `ledger verify` and `ledger audit`")
        return None

    @staticmethod
    def _seal(conn: Connection, schedule: KeySchedule, seq_from: int, seq_to: int, head_hash: str) -> None:
        conn.execute(seals.insert().values(seq_from=seq_from, seq_to=seq_to, head_hash=head_hash,
                                           key_id=schedule.current.key_id,
                                           signature=schedule.sign_seal(seq_from, seq_to, head_hash)))

    def seals(self) -> list[tuple[int, int, str, str, str]]:
        """Every seal, by the last event it covers: (seq_from, seq_to, head_hash, key_id, signature)."""
        query = select(seals.c.seq_from, seals.c.seq_to, seals.c.head_hash, seals.c.key_id, seals.c.signature)
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(query.order_by(seals.c.seq_to))]

    def head(self) -> tuple[int, str]:
        with self.engine.connect() as conn:
            return _head(conn)

    def stream_version(self, stream: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(events.c.stream_version)).where(events.c.stream == stream)).scalar() or 0

    def read(
        self, *, after_seq: int = 0, upto_seq: int | None = None, upto_at: str | None = None,
        known_at: str | None = None, types: Sequence[str] | None = None, batch_size: int = 5000,
    ) -> Iterator[StoredEvent]:
        """Rows in sequence order, streamed in batches (bounded memory)."""
        query = read_query(after_seq=after_seq, upto_seq=upto_seq, upto_at=upto_at, known_at=known_at, types=types)
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
            assert driver is not None, "an open connection has its driver's connection"
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
            select(*STORED)
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
            return dict(conn.execute(query).all())  # rows, not the result: a result has keys() and would pass for a mapping

    def stream_names(self, prefix: str) -> list[str]:
        """Every stream whose name starts with ``prefix``, sorted.

        A loose index scan: one index seek per stream found (``min(stream)``
        above the last one), never a walk over the streams' events.
        """
        end = _after_prefix(prefix)
        names: list[str] = []
        with self.engine.connect() as conn:
            current: str | None = prefix
            while (current := conn.execute(
                select(func.min(events.c.stream)).where(events.c.stream > current, events.c.stream < end)
            ).scalar()) is not None:
                names.append(current)
        return names

    def row_at(self, seq: int) -> StoredEvent | None:
        """The row with sequence number ``seq`` (a primary-key read)."""
        return self._first(select(*STORED).where(events.c.seq == seq))

    def stream_row(self, stream: str, version: int) -> StoredEvent | None:
        """The row at ``version`` of ``stream`` (an index point read)."""
        return self._first(select(*STORED).where(events.c.stream == stream, events.c.stream_version == version))

    def last_in_stream(self, stream: str, upto_seq: int | None = None) -> StoredEvent | None:
        """The newest row of ``stream`` at or before ``upto_seq``.

        At the head, one step back along the ``(stream, stream_version)``
        index. As of an earlier point, a binary search over the stream's
        versions (its sequence numbers grow with its versions): O(log n) index
        point reads, however many of the stream's rows came after the point.
        """
        last = select(events.c.stream_version, events.c.seq).where(events.c.stream == stream)
        with self.engine.connect() as conn:
            top = conn.execute(last.order_by(events.c.stream_version.desc()).limit(1)).first()
            if top is None:
                return None
            version = top[0]
            if upto_seq is not None and top[1] > upto_seq:
                low, high = 0, version - 1  # the last version at or before upto_seq (0: none)
                while low < high:
                    middle = (low + high + 1) // 2
                    if conn.execute(last.where(events.c.stream_version == middle)).one()[1] <= upto_seq:
                        low = middle
                    else:
                        high = middle - 1
                version = low
            if version == 0:
                return None
            found = conn.execute(select(*STORED).where(events.c.stream == stream,
                                                       events.c.stream_version == version)).first()
        return _row(found) if found else None

    def stream_seqs(self, stream: str, *, after_version: int = 0) -> list[int]:
        """Sequence numbers only, through the ``(stream, stream_version)`` index (on SQLite ``seq`` is the rowid the
        index holds: the table is not read)."""
        query = (select(events.c.seq).where(events.c.stream == stream, events.c.stream_version > after_version)
                 .order_by(events.c.stream_version))
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def rows_at(self, seqs: Iterable[int]) -> list[StoredEvent]:
        wanted = sorted({int(seq) for seq in seqs})
        found: list[StoredEvent] = []
        with self.engine.connect() as conn:
            for i in range(0, len(wanted), _CHUNK):
                query = select(*STORED).where(events.c.seq.in_(wanted[i:i + _CHUNK])).order_by(events.c.seq)
                found.extend(_row(r) for r in conn.execute(query))
        return found

    def get(self, event_id: str) -> StoredEvent | None:
        return self._first(select(*STORED).where(events.c.event_id == event_id))

    def _first(self, query: Select[Any]) -> StoredEvent | None:
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
                return str(conn.execute(select(events.c.at).where(events.c.seq == seq)).scalar_one())

            low, high = 0, conn.execute(select(func.max(events.c.seq))).scalar() or 0
            while low < high:
                middle = (low + high + 1) // 2
                if at_of(middle) <= at:
                    low = middle
                else:
                    high = middle - 1
            return low

    def verify(self, keep: Collection[int] = ()) -> VerifyReport:
        """Recompute the hash chain from the first event; stop at the first break."""
        return verify_rows(self.read(), keep)
