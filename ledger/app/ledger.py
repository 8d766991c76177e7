"""``Ledger``: the Python API of the ledger, and all the CLI talks to.

A thin facade: opening and closing, and one-line use cases. Every append goes
through the unit of work (``app.unit_of_work``): under the log's write lock
the engine session at the head admits, folds and decides the batch, and only
when every event passed are they appended, in one transaction (a rejected
batch stores nothing). Every read goes through ``reader``, which checks the
schema once. Reads replay (``ledger.replay``), compliance runs re-decide
(``ledger.compliance``), and the read models shape what is printed
(``ledger.reports``).

The compliance runs (audit, explain, what-if, compare, sweep) and the files
they read are imported by the methods that run them, as the HTML report's
charts are: every command is a process of its own, and ``ledger account``
or ``ledger ingest`` should not wait for the sweep's and the audit's modules
to load (``tests/test_cli_on_demand.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import asdict, frozen
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ledger.app import ingest
from ledger.app.clock import Clock, system_clock
from ledger.app.unit_of_work import AppendUnit
from ledger.domain import events as ev
from ledger.domain.codec import decode_object, to_json_object
from ledger.domain.events import ACCOUNT_STREAM_PREFIX
from ledger.domain.scales import EXACT, Figures, Scales
from ledger.domain.state import LedgerState
from ledger.domain.timefmt import format_time, parse_time
from ledger.engine import rule_checks
from ledger.engine.admission import Located
from ledger.engine.input_limits import DEFAULT_PRICE_BAND, MAX_PRICE_BAND, InputLimits
from ledger.errors import DatabaseUnavailable, InvalidBatch, InvalidEvent, UnprovenLog
from ledger.replay import account as account_replay
from ledger.replay import load
from ledger.reports import balances as balance_report
from ledger.reports import export as export_files
from ledger.reports import history as history_report
from ledger.reports import reconcile as reconciliation
from ledger.reports import records
from ledger.store import EventStore, Keyring, LogReader, StoredEvent, VerifyReport, Writer, grants, open_store, proof
from ledger.store.seals import generate_key
from rules import registry as rules_registry
from rules.allocation import registry as allocation_registry

if TYPE_CHECKING:  # the compliance runs are imported by the methods that run them (see the module's docstring)
    from ledger.compliance.audit import AuditReport
    from ledger.compliance.sweep import Candidate, SweepRow
    from ledger.compliance.whatif import Comparison, Policy
    from ledger.compliance.whatif import WhatIf as WhatIf  # what ``whatif`` answers, named for the shell's annotations

__all__ = ["Ledger", "AppendResult", "DEFAULT_URL", "DEFAULT_FUTURE_TOLERANCE", "DEFAULT_PRICE_BAND",
           "MAX_PRICE_BAND", "rule_params_file", "checked_policy", "covers_listed_markets",
           "listed_markets"]

DEFAULT_URL = "sqlite:///ledger.db"
DEFAULT_FUTURE_TOLERANCE = timedelta(minutes=5)
"""How far past its recording time an ingested event's business time may be (clocks differ a little; far more is a mistake)."""

Progress = Callable[[int], None]
Phases = Callable[[str, int], None]
"""Told ``(phase, count)`` as an ingest goes (``Ledger.ingest_file``)."""


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
        self, store: EventStore, clock: Clock | None = None, future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE,
        price_band: Decimal | None = DEFAULT_PRICE_BAND,
    ) -> None:
        self.store = store
        self.clock = clock
        self.future_tolerance = future_tolerance
        self.price_band = price_band
        self._unit = AppendUnit(store)

    @classmethod
    def open(
        cls, url: str = DEFAULT_URL, *, clock: Clock | None = None, future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE,
        key: str | Path | None = None, create: bool = True, price_band: Decimal | None = DEFAULT_PRICE_BAND,
    ) -> Ledger:
        """The ledger at ``url`` (SQLite or PostgreSQL; ``memory://`` for an in-memory one that dies with the process).

        ``clock``: what records appends; by default the database's own clock
        (PostgreSQL's server time; an embedded SQLite file's machine), so a
        writer whose clock is wrong cannot stamp the log (tests pass their
        own). Either way an append never records a time before the head's.
        ``future_tolerance``: an ingested event whose business time is later than
        its recording time plus this is refused. ``price_band``: a fill whose
        price differs from its market's last mark by more than this share of it
        is refused (None: no band; ``engine.input_limits``). ``key``: the Ed25519 key file
        (``ledger keygen``) that seals every append and snapshot and verifies
        seals; a public key verifies only (``ledger.store.seals``).
        ``create=False``: a SQLite file that does not exist is refused
        (``DatabaseUnavailable``) instead of being created empty: a mistyped
        path must not read as an empty ledger.
        """
        if not create:
            _require_existing_sqlite_file(url)
        return cls(open_store(url, Keyring.load(key) if key else None), clock, future_tolerance, price_band)

    @property
    def url(self) -> str:
        return self.store.url

    def init(self) -> None:
        """Create or upgrade the schema (Alembic ``upgrade head``); safe to repeat."""
        self.store.initialise()

    def grant(self, role: str) -> list[str]:
        """As the schema's owner (PostgreSQL), after ``init``: leave ``role`` with exactly the privileges the daily
        commands need (``ledger grant``); what it can still do beyond them, one line each (nothing: as it should be)."""
        self.store.require_schema()
        return grants.apply(self.store, role)

    @staticmethod
    def grant_statements(role: str) -> list[str]:
        """The SQL ``grant`` runs, for an owner who applies it with psql (``ledger grant ROLE --sql``)."""
        return grants.statements(role)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ------------------------------------------------------------
    def ingest_file(
        self, path: str | Path, *, progress: Progress | None = None, phases: Phases | None = None,
    ) -> AppendResult:
        """Ingest a JSON Lines file atomically: every line, or nothing.

        The file is streamed in chunks inside one transaction (bounded memory);
        ``progress`` is called with the number of bytes read as it goes.
        ``phases`` is told what each phase has done, as ``(phase, count)``:
        ``read`` (bytes read), ``lines`` (records decoded into a chunk),
        ``engine`` and ``store`` (records each has taken), ``commit`` (0 as it
        starts, 1 once committed and the snapshots due written): what a
        progress display estimates from; and ``committed`` (1) the moment the
        transaction is committed, before those snapshots: from then on the
        file is stored, whatever happens next (what a caller that stops on an
        interrupt needs to say).
        """
        told = phases or (lambda phase, count: None)

        def read(count: int) -> None:
            told("read", count)
            if progress is not None:
                progress(count)

        reading = ingest.Reading()
        appended = skipped = engine_made = 0
        with self._unit.appending(committed=lambda: told("committed", 1)) as (writer, session):
            now = self._recording_time(writer)
            recorded_at, limits = format_time(now), self._limits(now)
            chunks = ingest.chunks(path, reading, read if progress is not None or phases is not None else None)
            chunk = next(chunks, None)
            while chunk is not None:
                told("lines", len(chunk))
                following = next(chunks, None)  # one ahead: the last chunk binds the snapshot due, if any
                outcome = self._unit.append(writer, session, chunk, recorded_at, limits, last=following is None,
                                            phase=told)
                appended += len(outcome.to_append) - outcome.engine_made
                skipped, engine_made = skipped + outcome.skipped, engine_made + outcome.engine_made
                chunk = following
            if reading.errors:
                raise InvalidBatch(reading.errors, reading.error_count)
            told("commit", 0)
        told("commit", 1)
        return AppendResult(appended, skipped, engine_made, self._unit.head_seq, reading.lines)

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
        with self._unit.appending() as (writer, session):
            writer.check_expected(expected_versions)
            now = self._recording_time(writer)
            outcome = self._unit.append(writer, session, records, format_time(now), self._limits(now))
        appended = len(outcome.to_append) - outcome.engine_made
        return AppendResult(appended, outcome.skipped, outcome.engine_made, self._unit.head_seq)

    def _limits(self, now: datetime) -> InputLimits:
        """What fresh input must stay within, recorded at ``now``: the future tolerance and the price band."""
        return InputLimits(now + self.future_tolerance, self.price_band)

    def recording_now(self, database: datetime | None) -> datetime:
        """The recording clock: a caller's (tests), else the database's (``database``, read under the lock), else
        this machine's (an embedded file's database clock is this machine's)."""
        if self.clock is not None:
            return self.clock()
        return database if database is not None else system_clock()

    def _recording_time(self, writer: Writer) -> datetime:
        """When an append records itself (read under the lock): the database's clock, or the clock a caller gave, and
        never before the head's recording time, so ``recorded_at`` never decreases along the log (#27 point 10)."""
        now = self.recording_now(writer.database_now())
        last = writer.head_recorded_at()
        return now if last is None else max(now, parse_time(last, "recorded_at"))

    # -- the one reading entry ------------------------------------------------------
    def reader(self, *, proven: bool = True) -> EventStore:
        """The store, once its schema is known to be this code's (``NotInitialised``, exit 2, otherwise) and, with a
        key, its head proven by a valid seal (``UnprovenLog``, exit 1, otherwise: a read never shows rows the seals do
        not prove; ``verify`` and ``audit`` read it anyway, ``proven=False``, to say what is wrong)."""
        self.store.require_schema()
        if proven:
            unproven = self.store.unproven_tail()
            if unproven is not None:
                raise UnprovenLog(unproven[1])
        return self.store

    # -- reading: state -----------------------------------------------------
    def state(self, *, as_of: datetime | None = None, seq: int | None = None, progress: Progress | None = None) -> LedgerState:
        """Replayed state after event ``seq``, or as of business time ``as_of``, or at the head."""
        store = self.reader()
        return load.state_at(store, _point(store, as_of, seq), progress=progress)

    def account(self, name: str, *, as_of: datetime | None = None, seq: int | None = None) -> LedgerState:
        """One account (and the markets it touched) after event ``seq`` or as of ``as_of``, replayed from its own stream.

        The cost is that of the account's events since its last snapshot, however
        long the log is; the figures equal those of ``state()`` for this account.
        """
        store = self.reader()
        return account_replay.account_at(store, name, _point(store, as_of, seq))

    def head_seq(self) -> int:
        """Sequence number of the last stored event (0 for an empty log)."""
        return self.reader().head()[0]

    def has_account(self, name: str) -> bool:
        """Whether any event of account ``name`` is stored."""
        return self.reader().stream_version(ACCOUNT_STREAM_PREFIX + name) > 0

    def events(self, *, types: Sequence[str] | None = None, upto_seq: int | None = None) -> Iterable[StoredEvent]:
        return self.reader().read(types=types, upto_seq=upto_seq)

    def engine_events(
        self, account: str | None = None, types: Sequence[str] = tuple(sorted(ev.ENGINE_TYPES))
    ) -> list[tuple[StoredEvent, Any]]:
        """The liquidation engine's events (of ``types``), oldest first, optionally for one account."""
        return records.engine_events(self.reader(), account, types)

    def liquidations(self, account: str | None = None) -> list[tuple[StoredEvent, ev.Liquidation]]:
        return self.engine_events(account, ["liquidation"])

    def bankruptcies(self, account: str | None = None) -> list[tuple[StoredEvent, ev.Bankruptcy]]:
        return self.engine_events(account, ["bankruptcy"])

    def verify(self, anchor: Mapping[str, Any] | None = None) -> VerifyReport:
        """The hash chain, the seals, and the evidence the log left behind (``ledger.app.proof``)."""
        return proof.verify(self.reader(proven=False), anchor)

    @staticmethod
    def generate_key(path: str | Path) -> tuple[Path, Path, str]:
        """A new Ed25519 key at ``path`` (private) and PATH.pub; (private path, public path, key id)."""
        return generate_key(path)

    def anchor(self) -> dict[str, Any]:
        """The head as a record to keep outside the database (``verify --anchor`` checks the log still holds it)."""
        return proof.anchor(self.reader())

    def snapshot(self) -> bool:
        """Snapshot the head now, the ledger and every account (normally done as appends go)."""
        return self._unit.snapshot_now(self.reader())

    # -- reading: reports (what the CLI prints) -----------------------------
    def balances(
        self, *, as_of: datetime | None = None, seq: int | None = None, account: str | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """The contract's balances report, replayed after ``seq`` or as of ``as_of`` (or at the head)."""
        return balance_report.balances(self.state(as_of=as_of, seq=seq, progress=progress), account, as_of=as_of)

    def account_balances(self, name: str, *, as_of: datetime | None = None, seq: int | None = None) -> dict[str, Any]:
        """One account's balances report from its own stream (no system balances; no account if it has no events by then).

        Once a loss-allocation policy was activated, a position's ADL quantile
        ranks it among every holder of its side: that one figure is read from
        the whole ledger's state.
        """
        state = self.account(name, as_of=as_of, seq=seq)
        queues = None
        if name in state.accounts and self.reader().stream_version(ev.LOSS_ALLOCATION_STREAM) > 0:
            queues = balance_report.adl_queues(self.state(as_of=as_of, seq=seq), sorted(state.accounts[name].positions))
        return balance_report.balances(state, name, system=False, as_of=as_of, queues=queues)

    def scales(self, overrides: Mapping[str, int] | None = None) -> Scales:
        """The display scales of the listed markets and their assets, for tables (``ledger.domain.scales``)."""
        return records.listed_scales(self.reader(), overrides)

    def liquidation_records(self, account: str | None = None) -> list[dict[str, Any]]:
        """Liquidations as the contract prints them, oldest first."""
        return [records.liquidation_record(row, event) for row, event in self.engine_events(account, ["liquidation"])]

    def bankruptcy_records(self, account: str | None = None) -> list[dict[str, Any]]:
        """Bankruptcies as the contract prints them, oldest first."""
        return [records.bankruptcy_record(row, event) for row, event in self.engine_events(account, ["bankruptcy"])]

    def deleverage_records(self, account: str | None = None) -> list[dict[str, Any]]:
        """Auto-deleveraging fills as ``deleverages`` prints them (one per fill), oldest first, each naming the
        account whose bankruptcy it paid (``bankrupt_account``, the contract's)."""
        fills = [(row, event) for row, event in self.engine_events(account, ["auto_deleverage"])]
        bankrupt = {e.id: e.account for _, e in self.engine_events(None, ["bankruptcy"])} if fills else {}
        return [{**record, "bankrupt_account": bankrupt.get(event.bankruptcy)} for row, event in fills
                for record in records.deleverage_records(row, event)
                if account is None or record["account"] == account]

    def rules_report(self, progress: Progress | None = None) -> dict[str, Any]:
        """Registered rule versions and the activation history."""
        return records.rules_report(self.state(progress=progress))

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
        store = self.reader()
        if known_at is not None:
            history_report.check_known_at(store, known_at, self.recording_now)
        rows = history_report.account_history(store, account, start=start, end=end, known_at=known_at,
                                              progress=progress, figures=figures)
        if not rows and not self.has_account(account):
            raise InvalidEvent("no such account in the ledger", where=f"account {account}")
        return rows

    def reconcile(
        self, statement: str | Path, *, as_of: datetime | None = None, tolerance: Decimal = Decimal(0),
        include_system: bool = False, progress: Progress | None = None, encoding: str = "utf-8", delimiter: str = ",",
    ) -> tuple[int, list[dict[str, Any]]]:
        """(statement lines, breaks) of the ledger against a CSV statement (``account,asset,balance``, or
        ``account,market,size``), read in ``encoding`` with ``delimiter`` between its columns."""
        lines = reconciliation.read_statement(statement, encoding, delimiter)
        positions = reconciliation.is_position_statement(statement, encoding, delimiter)
        state = self.state(as_of=as_of, progress=progress)
        breaks = reconciliation.reconcile(state, lines, tolerance, include_system, positions=positions)
        return len(lines), [asdict(b) for b in breaks]

    def export(
        self, out: Path, fmt: str, progress: Progress | None = None, *, as_of: datetime | None = None, safe_csv: bool = False,
    ) -> dict[str, int]:
        """Write the events (up to ``as_of``), and the balances and positions then, as Parquet or CSV into ``out``
        (``safe_csv``: no cell a spreadsheet would run as a formula, ``domain.csvcells``)."""
        state = self.state(as_of=as_of)
        return export_files.export(self.reader(), state, out, fmt, progress, safe_csv=safe_csv)

    # -- compliance ------------------------------------------------------------
    def audit(
        self, *, exhaustive: bool = False, progress: Progress | None = None, parts: int | None = None,
    ) -> AuditReport:
        """Replay everything from scratch and prove it (``ledger.compliance.audit``), in ``parts`` parts side by side
        (``ledger.compliance.audit_parts``; None: one per core this process may use, at most ``MOST_PARTS``; 1: one
        pass)."""
        from ledger.compliance import audit_parts

        store = self.reader(proven=False)
        parts = parts or min(_usable_cores(), audit_parts.MOST_PARTS)
        report = audit_parts.audit_in_parts(store, progress, exhaustive=exhaustive, parts=parts)
        unproven = store.unproven_tail()  # with a key, the audit proves only what the seals cover
        if unproven is not None:
            report.add("seal", unproven[0], None, unproven[1])
        return report

    def seal(self) -> tuple[int, int] | None:
        """Vouch for the log as it is, with the key: seal the events after the last valid seal (``ledger seal``, after
        ``verify`` and ``audit``); (first, last) sealed, or None when every event is sealed."""
        self.store.require_schema()
        return self.store.seal_unsealed()

    def rotate_key(self, new_key: str | Path) -> tuple[int, str]:
        """Hand sealing over from the key in use to the private key at ``new_key``: a record both keys sign, after the
        head (``ledger rotate-key``); (the last event the old key seals, the new key's id). Every event must be
        sealed first; from then on appends need the new key, and either key verifies the whole log."""
        self.store.require_schema()
        return self.store.rotate_key(Keyring.load(new_key))

    def explain(self, event_id: str) -> dict[str, Any]:
        """Why the engine made a liquidation or bankruptcy: the figures and the formula, as JSON-ready data."""
        from ledger.compliance.explain import explain

        return explain(self.reader(), event_id)

    def whatif(
        self, version: str | None, *, params: Mapping[str, Any] | None = None, params_file: str | Path | None = None,
        start: datetime | None = None, end: datetime | None = None, progress: Progress | None = None,
        policy: PolicyFile | None = None,
    ) -> WhatIf:
        """Real history replayed under another rule version (and loss-allocation ``policy``: version and params file),
        side by side with what happened; nothing written."""
        from ledger.compliance import whatif as whatif_run

        if params_file is not None:
            params = rule_params_file(version, params_file)
        if version is not None and params is not None:
            covers_listed_markets(listed_markets(self.reader(), end), version, params, str(params_file or "params"))
        return whatif_run.whatif(self.reader(), version, params, start=start, end=end, progress=progress,
                                 policy=checked_policy(policy))

    def compare(
        self, candidates: Sequence[tuple[str | None, str | Path | None]], *, start: datetime | None = None,
        end: datetime | None = None, progress: Progress | None = None,
        policies: Sequence[PolicyFile | None] | None = None,
    ) -> Comparison:
        """Several (version, params file or None for the params in force) replayed side by side on the same history,
        each allocating with its loss-allocation policy (version and params file; None: the one in force)."""
        from ledger.compliance import whatif as whatif_run

        parsed = [(version, rule_params_file(version, path) if path is not None else None) for version, path in candidates]
        listed = listed_markets(self.reader(), end)
        for (version, params), (_, path) in zip(parsed, candidates, strict=True):
            if version is not None and params is not None:
                covers_listed_markets(listed, version, params, str(path))
        chosen = [checked_policy(p) for p in policies] if policies is not None else None
        return whatif_run.compare(self.reader(), parsed, start=start, end=end, progress=progress, policies=chosen)

    def sweep(
        self, versions: Sequence[str], grid_file: str | Path, *, start: datetime | None = None,
        end: datetime | None = None, workers: int | None = None, scheduler: str | None = None,
        progress: Progress | None = None, policies: Sequence[PolicyFile] = (),
        max_candidates: int | None = None, planned: Progress | None = None,
    ) -> tuple[list[Candidate], list[SweepRow]]:
        """Replay the history under every candidate of a grid (``ledger.compliance.sweep``), crossed with every
        loss-allocation policy given (version, params file); nothing written. ``planned`` is told how many candidates
        there are before any runs, ``progress`` each one done; at most ``max_candidates`` (None: the sweep's own
        ``MAX_CANDIDATES``)."""
        from ledger.app.params_files import grid_policies, read_grid
        from ledger.compliance import sweep as sweep_run

        grid = read_grid(grid_file)
        base = grid.get("params") or sweep_run.base_params(self.reader())
        chosen = [found for found in (checked_policy(p) for p in policies) if found is not None]
        varied = grid_policies(grid, str(grid_file))
        if varied and chosen:
            raise InvalidEvent("the grid varies loss_allocation: give the policies there or with --loss-allocation, "
                               "not both", where=str(grid_file))
        for n, (version, params) in enumerate(varied):
            try:
                allocation_registry.get(version).parse_params(params)
            except InvalidEvent as exc:
                raise InvalidEvent(f"{version}: {exc.reason}", where=f"{grid_file}: grid loss_allocation[{n}]") from None
        most = sweep_run.MAX_CANDIDATES if max_candidates is None else max_candidates
        candidates = sweep_run.candidates_of(versions, grid, base, chosen or varied, most)
        listed = listed_markets(self.reader(), end)
        for candidate in candidates:
            label = ", ".join(f"{k}={v}" for k, v in candidate.varied.items())
            covers_listed_markets(listed, candidate.version, candidate.params,
                                  f"{grid_file}: candidate {candidate.version} {label}".rstrip())
        if planned is not None:
            planned(len(candidates))
        return candidates, sweep_run.sweep(self.reader(), candidates, start=start, end=end, workers=workers,
                                           scheduler=scheduler, progress=progress)

    def report(
        self, out: Path, *, comparison: WhatIf | Comparison | None = None,
        progress: Progress | None = None, scales: Mapping[str, int] | None = None,
        sweep_rows: list[dict[str, Any]] | None = None, allocation: Comparison | None = None,
        compared: Sequence[str] = (),
    ) -> Path:
        """Write the HTML compliance report (charts, tables, optionally a what-if, policies side by side, a sweep)
        into ``out``; its index page. It opens with its provenance: this clock's time, the database, the head, the
        activations over the history, and ``compared`` (one line per alternative it sets beside what happened)."""
        from ledger.reports.html import write_report  # matplotlib: loaded only for the report
        from ledger.reports.provenance import Provenance

        made = Provenance(format_time((self.clock or system_clock)()), self.store.url, self.store.keyring is not None,
                          tuple(compared))
        return write_report(self.reader(), out, comparison.to_json() if comparison is not None else None, progress,
                            figures=self.scales(scales), sweep_rows=sweep_rows,
                            allocation=allocation.to_json() if allocation is not None else None, provenance=made)


def _usable_cores() -> int:
    """The cores this process may run on (its affinity where the system tells it, as a container's limit is)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)


def _point(store: LogReader, as_of: datetime | None, seq: int | None) -> int | None:
    """The sequence number a read stops at: ``seq``, cut to business time ``as_of``; None for the head (one read of the
    store the caller already checked, not a second check)."""
    if as_of is not None:
        upto = load.seq_for_time(store, as_of)
        seq = upto if seq is None else min(seq, upto)
    return seq


PolicyFile = tuple[str, str | Path | None]
"""A loss-allocation policy for a what-if world: its version, and the file of its params (None: no params)."""


def rule_params_file(version: str | None, path: str | Path) -> dict[str, Any]:
    """A what-if's params file, read and checked by the version it is for: a refusal names the file, the version and
    the key (``InvalidEvent``, exit 2)."""
    from ledger.app.params_files import read_params_file

    params = read_params_file(path)
    if version is not None:
        try:
            rules_registry.get(version).parse_params(params)
        except InvalidEvent as exc:
            raise InvalidEvent(f"{version} refuses these params: {exc.reason}", where=str(path)) from None
    return params


def listed_markets(store: LogReader, end: datetime | None) -> set[str]:
    """The markets the history lists up to ``end`` (the head when None)."""
    return {row.stream[len(ev.MARKET_STREAM_PREFIX):]
            for row in store.read(types=[ev.MarketListed.TYPE], upto_at=format_time(end) if end else None)}


def covers_listed_markets(listed: set[str], version: str, params: Mapping[str, Any], where: str) -> None:
    """``params`` must give ``version`` margin rates for every market the history lists (``listed``), as an
    activation's must (``engine.rule_checks``): a what-if world would otherwise meet a position it cannot value
    (``InvalidEvent`` naming ``where``, exit 2)."""
    rule = rules_registry.get(version)
    refusal = rule_checks.no_margin_rates(rule, rule.parse_params(params), listed)
    if refusal:
        raise InvalidEvent(f"{version}: {refusal}", where=where)


def checked_policy(policy: PolicyFile | None) -> Policy | None:
    """The policy with its params read, checked by the policy now (a refusal names the params file and the key)."""
    from ledger.app.params_files import read_params_file

    if policy is None:
        return None
    version, path = policy
    params = read_params_file(path) if path is not None else {}
    try:
        allocation_registry.get(version).parse_params(params)
    except InvalidEvent as exc:
        raise exc.located(str(path) if path is not None else f"--loss-allocation {version}") from None
    return version, params


def _require_existing_sqlite_file(url: str) -> None:
    """``DatabaseUnavailable`` for a SQLite URL whose file does not exist (other URLs are left to the driver)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # not a URL at all: the store says so when it opens it
    in_a_file = parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:"
    if in_a_file and not Path(str(parsed.database)).is_file():
        raise DatabaseUnavailable(f"no database file {parsed.database} (only `ledger init` creates one)")

