"""``Ledger``: the Python API of the ledger, and all the CLI talks to.

An append goes through one pipeline whoever calls it: under the log's write
lock, load the state at the head and run ``engine.pipeline.fold_batch``
(idempotency, validation, fold, liquidation engine after each mark). Only when
every event passed are they appended, in one transaction: a rejected batch
stores nothing. Reads replay (``ledger.replay``), compliance runs re-decide
(``ledger.compliance``), and the read models shape what is printed
(``ledger.reports``); this facade composes them over one store.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from attrs import asdict, frozen
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from ledger.app import ingest
from ledger.app.clock import Clock, system_clock
from ledger.app.params_files import read_params_file
from ledger.compliance import audit as audit_run
from ledger.compliance import explain as explain_run
from ledger.compliance import sweep as sweep_run
from ledger.compliance import whatif as whatif_run
from ledger.domain import events as ev
from ledger.domain.codec import decode_object, to_json_object
from ledger.domain.events import ACCOUNT_STREAM_PREFIX, MARKET_STREAM_PREFIX
from ledger.domain.scales import EXACT, Figures, Scales, scales_of
from ledger.domain.state import LedgerState
from ledger.domain.timefmt import format_time
from ledger.engine.candidates import LiquidationIndex
from ledger.engine.pipeline import BatchOutcome, Located, fold_batch
from ledger.errors import DatabaseUnavailable, InvalidBatch, InvalidEvent
from ledger.replay import account as account_replay
from ledger.replay import load
from ledger.reports import balances as balance_report
from ledger.reports import export as export_files
from ledger.reports import history as history_report
from ledger.reports import reconcile as reconciliation
from ledger.reports import records
from ledger.store import EventStore, Keyring, StoredEvent, VerifyReport, Writer, open_store, proof
from ledger.store.seals import generate_key
from rules import registry

__all__ = ["Ledger", "AppendResult", "DEFAULT_URL", "DEFAULT_FUTURE_TOLERANCE"]

_log = logging.getLogger("ledger")

DEFAULT_URL = "sqlite:///ledger.db"
DEFAULT_FUTURE_TOLERANCE = timedelta(minutes=5)
"""How far past its recording time an ingested event's business time may be (clocks differ a little; far more is a mistake)."""

_CATCH_UP_ROWS = 10_000
"""Rows of other writers a warm index is carried over row by row at least (beyond its size, it is rebuilt)."""

_Warm = tuple[int, str, LedgerState, LiquidationIndex]
"""The state (and liquidation index) an append left in memory, with the head it is at: (seq, hash, state, index)."""

Progress = Callable[[int], None]


@frozen
class AppendResult:
    appended: int
    skipped: int
    engine_events: int
    head_seq: int
    lines: int | None = None
    """records (non-blank lines) read, for a file; None for events handed over in Python"""


class Ledger:
    """One ledger database. Open with ``Ledger.open(url)``; ``init()`` once."""

    def __init__(
        self, store: EventStore, clock: Clock = system_clock, future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE
    ) -> None:
        self.store = store
        self.clock = clock
        self.future_tolerance = future_tolerance
        self._warm: _Warm | None = None

    @classmethod
    def open(
        cls, url: str = DEFAULT_URL, *, clock: Clock = system_clock, future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE,
        key: str | Path | None = None, create: bool = True,
    ) -> Ledger:
        """The ledger at ``url`` (SQLite or PostgreSQL; ``memory://`` for an in-memory one that dies with the process).

        ``future_tolerance``: an ingested event whose business time is later than
        its recording time plus this is refused. ``key``: the Ed25519 key file
        (``ledger keygen``) that seals every append and snapshot and verifies
        seals; a public key verifies only (``ledger.store.seals``).
        ``create=False``: a SQLite file that does not exist is refused
        (``DatabaseUnavailable``) instead of being created empty: a mistyped
        path must not read as an empty ledger.
        """
        if not create:
            _require_existing_sqlite_file(url)
        return cls(open_store(url, Keyring.load(key) if key else None), clock, future_tolerance)

    @property
    def url(self) -> str:
        return self.store.url

    def init(self) -> None:
        """Create or upgrade the schema (Alembic ``upgrade head``); safe to repeat."""
        self.store.initialise()

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ------------------------------------------------------------
    def ingest_file(self, path: str | Path, *, progress: Progress | None = None) -> AppendResult:
        """Ingest a JSON Lines file atomically: every line, or nothing.

        The file is streamed in chunks inside one transaction (bounded memory);
        ``progress`` is called with the number of bytes read as it goes.
        """
        self.store.require_schema()
        reading = ingest.Reading()
        appended = skipped = engine_made = 0
        with self._writing() as (writer, state, index):
            now = self.clock()
            recorded_at, not_after = format_time(now), now + self.future_tolerance
            for chunk in ingest.chunks(path, reading, progress):
                outcome = _fold_and_append(writer, state, index, chunk, recorded_at, not_after)
                appended += len(outcome.to_append) - outcome.engine_made
                skipped, engine_made = skipped + outcome.skipped, engine_made + outcome.engine_made
            if reading.errors:
                raise InvalidBatch(reading.errors, reading.error_count)
        return AppendResult(appended, skipped, engine_made, self._head_seq_after_append(), reading.lines)

    def append(
        self, events: Iterable[ev.Event], *, expected_versions: Mapping[str, int] | None = None
    ) -> AppendResult:
        """Append ingested-type events (validated, engine run), atomically.

        Events built in Python never passed the ingest codec: each is held to
        it here (field shapes, digit, decimal-place and magnitude bounds, name
        lengths), exactly as if it had been read from a file.
        """
        records, errors = [], []
        for event in events:
            where = f"event {event.id}"
            try:
                records.append((where, decode_object(to_json_object(event), allowed_types=ev.INGESTED_TYPES | {event.TYPE})))
            except InvalidEvent as exc:
                errors.append(exc.located(where))
        if errors:
            raise InvalidBatch(errors)
        return self.append_located(records, expected_versions=expected_versions)

    def append_located(
        self, records: Sequence[Located], *, expected_versions: Mapping[str, int] | None = None
    ) -> AppendResult:
        self.store.require_schema()
        with self._writing() as (writer, state, index):
            writer.check_expected(expected_versions)
            now = self.clock()
            outcome = _fold_and_append(writer, state, index, records, format_time(now), now + self.future_tolerance)
        appended = len(outcome.to_append) - outcome.engine_made
        return AppendResult(appended, outcome.skipped, outcome.engine_made, self._head_seq_after_append())

    def _head_seq_after_append(self) -> int:
        assert self._warm is not None, "an append leaves its state warm"
        return self._warm[0]

    @contextmanager
    def _writing(self) -> Iterator[tuple[Writer, LedgerState, LiquidationIndex]]:
        """A write transaction with the state (and liquidation index) at its head.

        The state and index stay warm in memory between appends of this
        process, and are reused while the log's head is still the one they
        were left at; any failure drops them, as the batch may have been
        folded in part.
        """
        self._catch_up()
        with self.store.writer() as writer:
            warm, self._warm = self._warm, None
            warm = self._carried_over(warm, writer.head_seq, writer.head_hash)  # what slipped in since the catch-up
            if warm is not None:
                state, index = warm[2], warm[3]
            else:
                # a decision never rests on a snapshot whose content is not proven (sealed with the key): without a
                # key the state is replayed from the log itself (#15 point 1)
                state = load.state_at(self.store, writer.head_seq, use_snapshots=self.store.proves_snapshots)
                index = LiquidationIndex()
            assert state.seq == writer.head_seq, "state must be loaded at the head the lock holds"
            yield writer, state, index
            head = (writer.head_seq, writer.head_hash)
            crossed = writer.streams_crossing(account_replay.ACCOUNT_SNAPSHOT_EVERY, ACCOUNT_STREAM_PREFIX)
        self._warm = (*head, state, index)
        self._cache(state, head[1], crossed)

    def _catch_up(self) -> None:
        """Carry a warm state over what other writers appended since, *before* taking the log's lock.

        Committed rows never change, so folding them needs no lock; under the
        lock only what was appended in the meantime is left to fold. This keeps
        the time each writer holds the lock short when several write at once.
        """
        warm, self._warm = self._warm, None
        if warm is not None:
            self._warm = self._carried_over(warm, *self.store.head())

    def _carried_over(self, warm: _Warm | None, head_seq: int, head_hash: str) -> _Warm | None:
        """The warm state at the log's head ``(head_seq, head_hash)``, or None if it must be replayed.

        As it is while the head has not moved. If other writers appended
        since, only their rows (the log's own, already decided) are folded
        onto it, so that N concurrent writers do not each replay the whole
        log, and the index is kept true over them by re-indexing only the
        accounts they moved, funded or took past a trigger
        (``LiquidationIndex.carried_over``); when they outnumber the index's
        entries, a rebuild at the next mark is the cheaper way. None if the
        warm head is no longer on the log.
        """
        if warm is None or warm[:2] == (head_seq, head_hash):
            return warm
        if warm[0] < head_seq and self._still_logged(warm[0], warm[1]):
            state, index = load.fold_after(self.store, warm[2], head_seq), warm[3]
            if head_seq - warm[0] > max(index.size(), _CATCH_UP_ROWS):
                index.stale = True
            else:
                index.carried_over(state, ((row.type, row.stream) for row in
                                           self.store.read(after_seq=warm[0], upto_seq=head_seq)))
            return head_seq, head_hash, state, index
        return None

    def _still_logged(self, seq: int, event_hash: str) -> bool:
        """Whether the log still holds event ``seq`` with ``event_hash`` (the warm state's head is part of the chain)."""
        row = self.store.row_at(seq)
        return row is not None and row.hash == event_hash

    def _cache(self, state: LedgerState, head_hash: str, crossed_streams: Mapping[str, int]) -> None:
        """Write the snapshots now due. They are a cache: after a committed append, failing is only a warning."""
        try:
            load.write_snapshot_if_due(self.store, state, head_hash)
            account_replay.write_account_snapshots(self.store, state, head_hash, crossed_streams)
        except DBAPIError as exc:
            _log.warning("snapshot at #%s not written (the append itself is committed): %s", state.seq, exc)

    # -- reading: state -----------------------------------------------------
    def state(self, *, as_of: datetime | None = None, seq: int | None = None, progress: Progress | None = None) -> LedgerState:
        """Replayed state after event ``seq``, or as of business time ``as_of``, or at the head."""
        return load.state_at(self.store, self._point(as_of, seq), progress=progress)

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
            upto = load.seq_for_time(self.store, as_of)
            seq = upto if seq is None else min(seq, upto)
        return seq

    def head_seq(self) -> int:
        """Sequence number of the last stored event (0 for an empty log)."""
        self.store.require_schema()
        return self.store.head()[0]

    def has_account(self, name: str) -> bool:
        """Whether any event of account ``name`` is stored."""
        return self.store.stream_version(ACCOUNT_STREAM_PREFIX + name) > 0

    def events(self, *, types: Sequence[str] | None = None, upto_seq: int | None = None) -> Iterable[StoredEvent]:
        return self.store.read(types=types, upto_seq=upto_seq)

    def engine_events(
        self, account: str | None = None, types: Sequence[str] = tuple(sorted(ev.ENGINE_TYPES))
    ) -> list[tuple[StoredEvent, Any]]:
        """The liquidation engine's events (of ``types``), oldest first, optionally for one account."""
        rows = []
        for row in self.store.read(types=list(types)):
            event = row.event()
            if account is None or event.account == account:  # type: ignore[attr-defined]
                rows.append((row, event))
        return rows

    def liquidations(self, account: str | None = None) -> list[tuple[StoredEvent, ev.Liquidation]]:
        return self.engine_events(account, ["liquidation"])

    def bankruptcies(self, account: str | None = None) -> list[tuple[StoredEvent, ev.Bankruptcy]]:
        return self.engine_events(account, ["bankruptcy"])

    def verify(self, anchor: Mapping[str, Any] | None = None) -> VerifyReport:
        """The hash chain, the seals, and the evidence the log left behind (``ledger.app.proof``)."""
        self.store.require_schema()
        return proof.verify(self.store, anchor)

    @staticmethod
    def generate_key(path: str | Path) -> tuple[Path, Path, str]:
        """A new Ed25519 key at ``path`` (private) and PATH.pub; (private path, public path, key id)."""
        return generate_key(path)

    def anchor(self) -> dict[str, Any]:
        """The head as a record to keep outside the database (``verify --anchor`` checks the log still holds it)."""
        self.store.require_schema()
        return proof.anchor(self.store)

    def snapshot(self) -> bool:
        """Snapshot the head now, the ledger and every account (normally done as appends go)."""
        state = load.state_at(self.store)
        if state.seq == 0:
            return False
        row = self.store.row_at(state.seq)  # the state's own point: others may append meanwhile
        assert row is not None, "the state's last event is stored"
        written = load.write_snapshot_if_due(self.store, state, row.hash, force=True)
        versions = self.store.stream_versions(ACCOUNT_STREAM_PREFIX, upto_seq=state.seq)
        account_replay.write_account_snapshots(self.store, state, row.hash, versions)
        return written

    # -- reading: reports (what the CLI prints) -----------------------------
    def balances(
        self, *, as_of: datetime | None = None, seq: int | None = None, account: str | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """The contract's balances report, replayed after ``seq`` or as of ``as_of`` (or at the head)."""
        return balance_report.balances(self.state(as_of=as_of, seq=seq, progress=progress), account, as_of=as_of)

    def account_balances(self, name: str, *, as_of: datetime | None = None, seq: int | None = None) -> dict[str, Any]:
        """One account's balances report from its own stream (no system balances; no account if it has no events by then)."""
        return balance_report.balances(self.account(name, as_of=as_of, seq=seq), name, system=False, as_of=as_of)

    def scales(self, overrides: Mapping[str, int] | None = None) -> Scales:
        """The display scales of the listed markets and their assets, for tables (``ledger.domain.scales``)."""
        # each market's stream opens with its listing: one index read per market, not a scan of the log by type
        firsts = (self.store.stream_row(stream, 1) for stream in self.store.stream_names(MARKET_STREAM_PREFIX))
        listed = [row.event() for row in firsts if row is not None and row.type == ev.MarketListed.TYPE]
        return scales_of(((m.market, m.settle_asset, m.lot_size) for m in listed), overrides)  # type: ignore[attr-defined]

    def liquidation_records(self, account: str | None = None) -> list[dict[str, Any]]:
        """Liquidations as the contract prints them, oldest first."""
        return [records.liquidation_record(row, event) for row, event in self.engine_events(account, ["liquidation"])]

    def bankruptcy_records(self, account: str | None = None) -> list[dict[str, Any]]:
        """Bankruptcies as the contract prints them, oldest first."""
        return [records.bankruptcy_record(row, event) for row, event in self.engine_events(account, ["bankruptcy"])]

    def rules_report(self, progress: Progress | None = None) -> dict[str, Any]:
        """Registered rule versions and the activation history."""
        described = {
            name: (rule.summary, [{"name": p.name, "meaning": p.meaning, "range": p.range} for p in rule.parameters])
            for name, rule in registry.REGISTRY.items()
        }
        return records.rules_report(self.state(progress=progress), described)

    def history(
        self, account: str, *, start: datetime | None = None, end: datetime | None = None,
        known_at: datetime | None = None, progress: Progress | None = None, figures: Figures = EXACT,
    ) -> list[dict[str, Any]]:
        """An account's events with running figures (exact, or at ``figures``' display scales); ``InvalidEvent`` if
        the ledger has no such account.

        ``known_at``: what the ledger knew at that recording time. The answer
        is final: any append in flight is waited for first (its recording time
        may be earlier than its commit), and a time not yet past is refused,
        since appends still to come may carry it.
        """
        self.store.require_schema()
        if known_at is not None:
            self.store.settled()
            now = self.clock()
            if known_at >= now:
                raise InvalidEvent(f"{format_time(known_at)} is not in the past (now {format_time(now)}): what the "
                                   "ledger knows then may still change", where="--known-at")
            first = self.store.row_at(1)
            if first is None or format_time(known_at) < first.recorded_at:
                since = f"its first event was recorded at {first.recorded_at}" if first else "it holds no event"
                raise InvalidEvent(f"the ledger knew nothing at {format_time(known_at)}: {since}", where="--known-at")
        rows = history_report.account_history(self.store, account, start=start, end=end, known_at=known_at,
                                              progress=progress, figures=figures)
        if not rows and not self.has_account(account):
            raise InvalidEvent("no such account in the ledger", where=f"account {account}")
        return rows

    def reconcile(
        self, statement: str | Path, *, as_of: datetime | None = None, tolerance: Decimal = Decimal(0),
        include_system: bool = False, progress: Progress | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        """(statement lines, breaks) of the ledger against a CSV statement (``account,asset,balance``)."""
        lines = reconciliation.read_statement(statement)
        positions = reconciliation.is_position_statement(statement)
        state = self.state(as_of=as_of, progress=progress)
        breaks = reconciliation.reconcile(state, lines, tolerance, include_system, positions=positions)
        return len(lines), [asdict(b) for b in breaks]

    def export(self, out: Path, fmt: str, progress: Progress | None = None, *, as_of: datetime | None = None) -> dict[str, int]:
        """Write the events (up to ``as_of``), and the balances and positions then, as Parquet or CSV into ``out``."""
        state = self.state(as_of=as_of)
        return export_files.export(self.store, state, out, fmt, progress)

    # -- compliance ------------------------------------------------------------
    def audit(self, *, exhaustive: bool = False, progress: Progress | None = None) -> audit_run.AuditReport:
        """Replay everything from scratch and prove it (``ledger.compliance.audit``)."""
        self.store.require_schema()
        return audit_run.audit(self.store, progress, exhaustive=exhaustive)

    def explain(self, event_id: str) -> dict[str, Any]:
        """Why the engine made a liquidation or bankruptcy: the figures and the formula, as JSON-ready data."""
        self.store.require_schema()
        return explain_run.explain(self.store, event_id)

    def whatif(
        self, version: str, *, params: Mapping[str, Any] | None = None, params_file: str | Path | None = None,
        start: datetime | None = None, end: datetime | None = None, progress: Progress | None = None,
    ) -> whatif_run.WhatIf:
        """Real history replayed under another rule version, side by side with what happened; nothing written."""
        self.store.require_schema()
        if params_file is not None:
            params = read_params_file(params_file)
        return whatif_run.whatif(self.store, version, params, start=start, end=end, progress=progress)

    def compare(
        self, candidates: Sequence[tuple[str, str | Path | None]], *, start: datetime | None = None,
        end: datetime | None = None, progress: Progress | None = None,
    ) -> whatif_run.Comparison:
        """Several (version, params file or None for the params in force) replayed side by side on the same history."""
        self.store.require_schema()
        parsed = [(version, read_params_file(path) if path is not None else None) for version, path in candidates]
        return whatif_run.compare(self.store, parsed, start=start, end=end, progress=progress)

    def sweep(
        self, versions: Sequence[str], grid_file: str | Path, *, start: datetime | None = None,
        end: datetime | None = None, workers: int | None = None, scheduler: str | None = None,
        progress: Progress | None = None,
    ) -> tuple[list[sweep_run.Candidate], list[sweep_run.SweepRow]]:
        """Replay the history under every candidate of a grid (``ledger.compliance.sweep``); nothing written."""
        self.store.require_schema()
        grid = sweep_run.read_grid(grid_file)
        base = grid.get("params") or sweep_run.base_params(self.store)
        candidates = sweep_run.candidates_of(versions, grid, base)
        return candidates, sweep_run.sweep(self.store, candidates, start=start, end=end, workers=workers,
                                           scheduler=scheduler, progress=progress)

    def report(
        self, out: Path, *, comparison: whatif_run.WhatIf | whatif_run.Comparison | None = None,
        progress: Progress | None = None, scales: Mapping[str, int] | None = None,
        sweep_rows: list[dict[str, Any]] | None = None,
    ) -> Path:
        """Write the HTML compliance report (charts, tables, optionally a what-if) into ``out``; its index page."""
        from ledger.reports.html import write_report  # matplotlib: loaded only for the report

        self.store.require_schema()
        return write_report(self.store, out, comparison.to_json() if comparison is not None else None, progress,
                            figures=self.scales(scales), sweep_rows=sweep_rows)


def _require_existing_sqlite_file(url: str) -> None:
    """``DatabaseUnavailable`` for a SQLite URL whose file does not exist (other URLs are left to the driver)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # not a URL at all: the store says so when it opens it
    in_a_file = parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:"
    if in_a_file and not Path(str(parsed.database)).is_file():
        raise DatabaseUnavailable(f"no database file {parsed.database} (only `ledger init` creates one)")


def _fold_and_append(
    writer: Writer, state: LedgerState, index: LiquidationIndex, records: Sequence[Located], recorded_at: str,
    not_after: datetime,
) -> BatchOutcome:
    """One batch of an append: skip stored ids, validate and fold (engine included), insert what is new."""
    ids = [e.id for _, e in records]
    ids += [nfc for i in ids if not i.isascii() and (nfc := unicodedata.normalize("NFC", i)) != i]  # stored normalised
    stored = {i: row.event() for i, row in writer.existing(ids).items()}
    outcome = fold_batch(state, records, stored, index=index, not_after=not_after)
    writer.append_new(outcome.to_append, recorded_at)
    return outcome
