"""``Ledger``: the Python API of the ledger (the CLI is a thin layer over it).

An append goes through one pipeline whoever calls it: under the log's write
lock, load the state at the head and run ``pipeline.fold_batch`` (idempotency,
validation, fold, liquidation engine after each mark). Only when every event
passed are they appended, in one transaction: a rejected batch stores nothing.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

from attrs import frozen
from sqlalchemy.exc import DBAPIError

from ledger.domain import events as ev
from ledger.domain.codec import format_time
from ledger.domain.events import ACCOUNT_STREAM_PREFIX
from ledger.domain.state import LedgerState
from ledger.errors import InvalidBatch, InvalidEvent
from ledger.services import account_replay, ingest, replay
from ledger.services.clock import Clock, system_clock
from ledger.services.liquidation_index import LiquidationIndex
from ledger.services.pipeline import BatchOutcome, Located, fold_batch
from ledger.store import EventStore, StoredEvent, VerifyReport, make_engine, migrate
from ledger.store.eventstore import Writer

__all__ = ["Ledger", "AppendResult", "DEFAULT_URL"]

_log = logging.getLogger("ledger")

DEFAULT_URL = "sqlite:///ledger.db"


@frozen
class AppendResult:
    appended: int
    skipped: int
    engine_events: int
    head_seq: int


class Ledger:
    """One ledger database. Open with ``Ledger.open(url)``; ``init()`` once."""

    def __init__(self, store: EventStore, clock: Clock = system_clock) -> None:
        self.store = store
        self.clock = clock
        self._warm: tuple[int, str, LedgerState, LiquidationIndex] | None = None

    @classmethod
    def open(cls, url: str = DEFAULT_URL, *, clock: Clock = system_clock) -> "Ledger":
        return cls(EventStore(make_engine(url)), clock)

    @property
    def url(self) -> str:
        return self.store.engine.url.render_as_string(hide_password=True)

    def init(self) -> None:
        """Create or upgrade the schema (Alembic ``upgrade head``); safe to repeat."""
        migrate.upgrade(self.store.engine)

    def close(self) -> None:
        self.store.engine.dispose()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing ------------------------------------------------------------
    def ingest_file(self, path: str | Path, *, progress: Callable[[int], None] | None = None) -> AppendResult:
        """Ingest a JSON Lines file atomically: every line, or nothing.

        The file is streamed in chunks inside one transaction (bounded memory);
        ``progress`` is called with the number of bytes read as it goes.
        """
        self.store.require_schema()
        errors: list[InvalidEvent] = []
        appended = skipped = engine_made = 0
        with self._writing() as (writer, state, index):
            recorded_at = format_time(self.clock())
            for chunk in ingest.chunks(path, errors, progress):
                outcome = _fold_and_append(writer, state, index, chunk, recorded_at)
                appended += len(outcome.to_append) - outcome.engine_made
                skipped, engine_made = skipped + outcome.skipped, engine_made + outcome.engine_made
            if errors:
                raise InvalidBatch(errors)
        return AppendResult(appended, skipped, engine_made, self._warm[0])

    def append(
        self, events: Iterable[ev.Event], *, expected_versions: Mapping[str, int] | None = None
    ) -> AppendResult:
        """Append ingested-type events (validated, engine run), atomically."""
        return self.append_located([(f"event {e.id}", e) for e in events], expected_versions=expected_versions)

    def append_located(
        self, records: Sequence[Located], *, expected_versions: Mapping[str, int] | None = None
    ) -> AppendResult:
        self.store.require_schema()
        with self._writing() as (writer, state, index):
            writer.check_expected(expected_versions)
            outcome = _fold_and_append(writer, state, index, records, format_time(self.clock()))
        appended = len(outcome.to_append) - outcome.engine_made
        return AppendResult(appended, outcome.skipped, outcome.engine_made, self._warm[0])

    @contextmanager
    def _writing(self) -> Iterator[tuple[Writer, LedgerState, LiquidationIndex]]:
        """A write transaction with the state (and liquidation index) at its head.

        The state and index stay warm in memory between appends of this
        process, and are reused while the log's head is still the one they
        were left at; any failure drops them, as the batch may have been
        folded in part.
        """
        with self.store.writer() as writer:
            warm, self._warm = self._warm, None
            if warm is not None and warm[:2] == (writer.head_seq, writer.head_hash):
                state, index = warm[2], warm[3]
            else:
                state, index = replay.state_at(self.store, writer.head_seq), LiquidationIndex()
            assert state.seq == writer.head_seq, "state must be loaded at the head the lock holds"
            yield writer, state, index
            head = (writer.head_seq, writer.head_hash)
            crossed = writer.streams_crossing(account_replay.ACCOUNT_SNAPSHOT_EVERY, ACCOUNT_STREAM_PREFIX)
        self._warm = (*head, state, index)
        self._cache(state, head[1], crossed)

    def _cache(self, state: LedgerState, head_hash: str, crossed_streams: Mapping[str, int]) -> None:
        """Write the snapshots now due. They are a cache: after a committed append, failing is only a warning."""
        try:
            replay.write_snapshot_if_due(self.store, state, head_hash)
            account_replay.write_account_snapshots(self.store, state, head_hash, crossed_streams)
        except DBAPIError as exc:
            _log.warning("snapshot at #%s not written (the append itself is committed): %s", state.seq, exc)

    # -- reading ------------------------------------------------------------
    def state(self, *, as_of: datetime | None = None, seq: int | None = None, progress=None) -> LedgerState:
        """Replayed state after event ``seq``, or as of business time ``as_of``, or at the head."""
        return replay.state_at(self.store, self._point(as_of, seq), progress=progress)

    def account(self, name: str, *, as_of: datetime | None = None, seq: int | None = None) -> LedgerState:
        """One account (and the markets it touched) after event ``seq`` or as of ``as_of``, replayed from its own stream.

        The cost is that of the account's events since its last snapshot, however
        long the log is; the figures equal those of ``state()`` for this account.
        """
        return account_replay.account_at(self.store, name, self._point(as_of, seq))

    def _point(self, as_of: datetime | None, seq: int | None) -> int | None:
        """The sequence number a read stops at: ``seq``, cut to business time ``as_of``; None for the head."""
        self.store.require_schema()
        if as_of is not None:
            upto = replay.seq_for_time(self.store, as_of)
            seq = upto if seq is None else min(seq, upto)
        return seq

    def head_seq(self) -> int:
        """Sequence number of the last stored event (0 for an empty log)."""
        self.store.require_schema()
        return self.store.head()[0]

    def events(self, *, types: Sequence[str] | None = None, upto_seq: int | None = None) -> Iterable[StoredEvent]:
        return self.store.read(types=types, upto_seq=upto_seq)

    def engine_events(
        self, account: str | None = None, types: Sequence[str] = tuple(sorted(ev.ENGINE_TYPES))
    ) -> list[tuple[StoredEvent, ev.Event]]:
        """The liquidation engine's events (of ``types``), oldest first, optionally for one account."""
        rows = []
        for row in self.store.read(types=list(types)):
            event = row.event()
            if account is None or event.account == account:
                rows.append((row, event))
        return rows

    def liquidations(self, account: str | None = None) -> list[tuple[StoredEvent, ev.Liquidation]]:
        return self.engine_events(account, ["liquidation"])

    def verify(self) -> VerifyReport:
        self.store.require_schema()
        return self.store.verify()

    def snapshot(self) -> bool:
        """Snapshot the head now, the ledger and every account (normally done as appends go)."""
        state = replay.state_at(self.store)
        if state.seq == 0:
            return False
        head_hash = self.store.row_at(state.seq).hash  # of the state's own point: others may append meanwhile
        written = replay.write_snapshot_if_due(self.store, state, head_hash, force=True)
        versions = self.store.stream_versions(ACCOUNT_STREAM_PREFIX, upto_seq=state.seq)
        account_replay.write_account_snapshots(self.store, state, head_hash, versions)
        return written


def _fold_and_append(
    writer: Writer, state: LedgerState, index: LiquidationIndex, records: Sequence[Located], recorded_at: str
) -> BatchOutcome:
    """One batch of an append: skip stored ids, validate and fold (engine included), insert what is new."""
    stored = {i: row.event() for i, row in writer.existing(e.id for _, e in records).items()}
    outcome = fold_batch(state, records, stored, index=index)
    writer.append_new(outcome.to_append, recorded_at)
    return outcome
