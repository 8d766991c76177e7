"""The write unit of work: one append transaction, with the engine session at the log's head kept warm between them.

An append must decide on the state at the head the log's lock holds, and
store all of a batch or nothing. ``AppendUnit.appending`` opens the write
transaction (``store.writer()``), hands out the engine session at its head,
and after the commit keeps the session warm for the next append and writes
the snapshots now due (a cache: failing there is only a warning). The
session is carried over what other writers appended since (``CommittedLog``
is the stored log as the engine session asks for it), first without the
lock, then for what slipped in before the lock was taken; any failure drops
it, as the batch may have been folded in part. This is cosmicpython's unit
of work: the facade's use cases stay one line each.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError

from ledger.domain.events import ACCOUNT_STREAM_PREFIX
from ledger.domain.state import LedgerState
from ledger.engine.admission import BatchOutcome, Located
from ledger.engine.input_limits import InputLimits
from ledger.engine.session import EngineSession
from ledger.replay import account as account_replay
from ledger.replay import load
from ledger.store import EventStore, Writer

__all__ = ["AppendUnit", "StoredLog"]

_log = logging.getLogger("ledger")


class StoredLog:
    """The committed log as an engine session carried over other writers' rows asks for it."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def holds(self, seq: int, event_hash: str) -> bool:
        row = self.store.row_at(seq)
        return row is not None and row.hash == event_hash

    def fold_after(self, state: LedgerState, upto_seq: int) -> LedgerState:
        return load.fold_after(self.store, state, upto_seq)

    def kinds(self, after_seq: int, upto_seq: int) -> Iterable[tuple[str, str]]:
        return ((row.type, row.stream) for row in self.store.read(after_seq=after_seq, upto_seq=upto_seq))


class AppendUnit:
    """Append transactions over one store, and the engine session one leaves warm for the next."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.log = StoredLog(store)
        self._warm: EngineSession | None = None
        self._last_snapshot = 0
        """where the newest whole-ledger snapshot is, as this transaction knows it"""
        self._bound: tuple[load.DueSnapshot, str] | None = None
        """the snapshot this transaction bound in the log, with its event's hash: written once it commits"""

    @property
    def warm(self) -> EngineSession | None:
        """The session the last append left at its head (None before any, or after a failed one)."""
        return self._warm

    @property
    def head_seq(self) -> int:
        """The head the last append left (it leaves its session warm)."""
        assert self._warm is not None, "an append leaves its session warm"
        return self._warm.state.seq

    @contextmanager
    def appending(self, committed: Callable[[], None] | None = None) -> Iterator[tuple[Writer, EngineSession]]:
        """A write transaction and the engine session at the head its lock holds; committed on a clean exit.

        ``committed`` is called once the transaction is committed, before the snapshots it made due are written: from
        then on what it appended is stored, whatever happens next (an interrupt while the snapshots are written)."""
        self.store.require_schema()
        self._catch_up()
        with self.store.writer() as writer:
            session, self._warm = self._warm, None
            if session is not None and not session.carry_over(self.log, writer.head_seq, writer.head_hash):
                session = None  # its head is no longer on the log: replayed below
            if session is None:
                # a decision rests only on a snapshot whose content is proven: sealed with the key, or bound in the
                # log by its digest (``store.snapshots``); any other is never loaded (#15 point 1, #30)
                state = load.state_at(self.store, writer.head_seq)
                session = EngineSession.indexed(state, head_hash=writer.head_hash)
            assert session.head == (writer.head_seq, writer.head_hash), "the session must be at the head the lock holds"
            self._last_snapshot, self._bound = load.last_snapshot_seq(self.store, writer.head_seq), None
            yield writer, session
            session.head_hash = writer.head_hash
            assert session.state.seq == writer.head_seq, "the session folded exactly what was appended"
            crossed = writer.streams_crossing(account_replay.ACCOUNT_SNAPSHOT_EVERY, ACCOUNT_STREAM_PREFIX)
        self._warm = session
        if committed is not None:
            committed()
        self._cache(session.state, session.head_hash, crossed)

    def append(
        self, writer: Writer, session: EngineSession, records: Sequence[Located], recorded_at: str, limits: InputLimits,
        *, last: bool = True, phase: Callable[[str, int], None] | None = None,
    ) -> BatchOutcome:
        """One batch of an append: skip stored ids, admit, fold and decide (``EngineSession.fold``), insert what is new.

        The transaction's ``last`` batch binds the whole-ledger snapshot due, if one is: its digest goes into the row
        of its last event (a file ingested in many batches makes at most one snapshot, of its end). ``phase`` is told
        the records the engine took (``engine``), then the store (``store``): what a progress display counts."""
        ids = [e.id for _, e in records]
        ids += [nfc for i in ids if not i.isascii() and (nfc := unicodedata.normalize("NFC", i)) != i]  # stored normalised
        stored = {i: row.event() for i, row in writer.existing(ids).items()}
        outcome = session.fold(records, stored, limits)
        if phase is not None:
            phase("engine", len(records))
        due = load.due_snapshot(session.state, self._last_snapshot) if outcome.to_append and last else None
        writer.append_new(outcome.to_append, recorded_at, due.digest if due is not None else None)
        if phase is not None:
            phase("store", len(records))
        if due is not None:  # its digest is in the row of its last event, committed with the batch
            assert due.seq == writer.head_seq, "a bound snapshot is of the state after the batch's last event"
            self._last_snapshot, self._bound = due.seq, (due, writer.head_hash)
        return outcome

    def snapshot_now(self, store: EventStore) -> bool:
        """Snapshot the head now, the ledger and every account (normally done as appends go); False for an empty log.

        Its own point: others may append meanwhile, so the state is snapshotted
        with the hash of its own last event, not the head's.
        """
        state = load.state_at(store)
        if state.seq == 0:
            return False
        row = store.row_at(state.seq)
        assert row is not None, "the state's last event is stored"
        written = load.write_snapshot_now(store, state, row.hash)
        versions = store.stream_versions(ACCOUNT_STREAM_PREFIX, upto_seq=state.seq)
        account_replay.write_account_snapshots(store, state, row.hash, versions)
        return written

    def _catch_up(self) -> None:
        """Carry the warm session over what other writers appended since, *before* taking the log's lock.

        Committed rows never change, so folding them needs no lock; under the
        lock only what was appended in the meantime is left to fold. This keeps
        the time each writer holds the lock short when several write at once.
        """
        session, self._warm = self._warm, None
        if session is not None and session.carry_over(self.log, *self.store.head()):
            self._warm = session

    def _cache(self, state: LedgerState, head_hash: str, crossed_streams: Mapping[str, int]) -> None:
        """Write the snapshots now due (the whole-ledger one the transaction bound in the log, the accounts' whose
        streams crossed a multiple). They are a cache: after a committed append, failing is only a warning."""
        bound, self._bound = self._bound, None
        try:
            if bound is not None:
                load.save_snapshot(self.store, *bound)
            account_replay.write_account_snapshots(self.store, state, head_hash, crossed_streams)
        except DBAPIError as exc:
            _log.warning("snapshot at #%s not written (the append itself is committed): %s", state.seq, exc)
