"""The audit: replay the whole history from scratch and prove it.

What it proves, each failure named with the event's sequence number and id:

- ``hash_chain``: every stored row still fits the chain (nothing altered,
  inserted or deleted);
- ``invalid_event``: every ingested event still passes the checks it passed
  when it was appended (catches a log rewritten with a recomputed chain);
- ``trial_balance``: the postings of every event balance per asset, and the
  books sum to zero at the end;
- ``projection``: every stored snapshot (of the ledger, or of one account)
  equals the full replay at its point,
  and the replay fast path (``bulk_fold``, what ``balances`` and as-of
  queries use) reaches exactly the state this reference fold reaches;
- ``liquidation_mismatch`` / ``unexplained_engine_event`` /
  ``missed_liquidation``: at every mark and every funding, the rule version
  then in force is run again on the state after it, and its decisions must
  equal the engine events stored after it — same ids, accounts, markets,
  quantities, prices, penalties and figures — with none missing or extra;
  after every trade, likewise the bankruptcy of an isolated position the trade
  closed in deficit.

Replaying folds what was stored; the re-derivation runs on a copy, so one bad
record does not hide the next.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from attrs import define, field, frozen

from ledger.domain import events as ev
from ledger.domain.events import ACCOUNT_STREAM_PREFIX
from ledger.domain.money import ZERO, arithmetic, to_str
from ledger.domain.postings import Posting, trial_balance
from ledger.domain.snapshot import ACCOUNT_SNAPSHOT_FORMAT, SNAPSHOT_FORMAT, dump_account, dump_state
from ledger.domain.state import LedgerState
from ledger.domain.validation import validate
from ledger.engine import rule_checks
from ledger.engine.session import EngineSession
from ledger.errors import LedgerError
from ledger.replay import load
from ledger.replay.load import LEDGER_SCOPE
from ledger.replay.runner import Observer, Unreplayable, project
from ledger.store import ProvenLog, StoredEvent, StreamReader

__all__ = ["Discrepancy", "AuditReport", "AuditedLog", "SpanEnd", "audit", "audit_span", "check_chain",
           "check_fast_path"]


@frozen
class Discrepancy:
    kind: str
    seq: int | None
    event_id: str | None
    detail: str


@define
class AuditReport:
    events_checked: int = 0
    liquidations_checked: int = 0
    marks_rederived: int = 0
    decisions_checked: int = 0
    """every engine event checked against the re-derived decision: liquidations, bankruptcies, deleveraging"""
    exhaustive: bool = False
    """whether every exposed account was re-decided at every mark (not only the liquidation index's candidates)"""
    snapshots_checked: int = 0
    head_hash: str = ""
    discrepancies: list[Discrepancy] = field(factory=list)

    @property
    def ok(self) -> bool:
        return not self.discrepancies

    def add(self, kind: str, seq: int | None, event_id: str | None, detail: str) -> None:
        self.discrepancies.append(Discrepancy(kind, seq, event_id, detail))


def _differences(stored: ev.Event, expected: ev.Event) -> str:
    if type(stored) is not type(expected):
        return f"stored a {stored.TYPE}, the rule decides a {expected.TYPE}"
    diffs = []
    for attribute in ev.flat_fields(type(stored)):
        a, b = getattr(stored, attribute.name), getattr(expected, attribute.name)
        if a != b:
            def show(v: object) -> str:
                return (to_str(v) if isinstance(v, Decimal) else str(v))
            diffs.append(f"{attribute.name} stored {show(a)}, rule decides {show(b)}")
    return "; ".join(diffs)


class AuditedLog(ProvenLog, StreamReader, Protocol):
    """What the audit reads: the log with its proofs, and its streams' versions (a span that starts after the first
    event counts each account's events from them)."""


class _Auditor(Observer):
    """Checks each event before it is folded (re-validation, engine decisions) and the books after."""

    def __init__(self, store: ProvenLog, report: AuditReport, exhaustive: bool) -> None:
        self.report = report
        self.exhaustive = exhaustive
        self.session = EngineSession(LedgerState())
        """re-decides on the state folded so far (the runner's, once it has started)"""
        self.expected: list[ev.EngineEvent] = []
        self.expected_from: str | None = None
        self.totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
        self.snapshots = dict(store.snapshots.of_scope(LEDGER_SCOPE, SNAPSHOT_FORMAT))
        self.account_snapshots: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for scope, seq, text in store.snapshots.with_prefix(ACCOUNT_STREAM_PREFIX, ACCOUNT_SNAPSHOT_FORMAT):
            self.account_snapshots[seq].append((scope[len(ACCOUNT_STREAM_PREFIX):], text))
        self.stream_versions: dict[str, int] = defaultdict(int)
        """events so far in each account's stream"""

    @property
    def state(self) -> LedgerState:
        return self.session.state

    def before(self, state: LedgerState, row: StoredEvent, event: ev.Event) -> None:
        if self.session.state is not state:  # the runner's state, the one folded
            self.session = EngineSession(state) if self.exhaustive else EngineSession.indexed(state)
        if event.TYPE in ev.ENGINE_TYPES:
            self.engine_event(row.seq, event)
        else:
            self.ingested_event(row.seq, event)

    def after(self, state: LedgerState, row: StoredEvent, event: ev.Event, postings: list[Posting]) -> None:
        self.after_apply(row.seq, event, postings)
        self.report.events_checked += 1

    def engine_event(self, seq: int, event: ev.Event) -> None:
        assert isinstance(event, ev.EngineEvent), "an engine event"
        self.report.liquidations_checked += event.TYPE == "liquidation"
        self.report.decisions_checked += 1
        position = next((i for i, e in enumerate(self.expected) if e.id == event.id), None)
        if position is None:
            self.report.add("unexplained_engine_event", seq, event.id,
                            f"no decision of the engine at {event.trigger} produces this {event.TYPE}")
            return
        if position != 0:
            self.report.add("liquidation_mismatch", seq, event.id,
                            f"stored out of order: the rule decides {self.expected[0].id} first")
        expected = self.expected.pop(position)
        if expected != event:
            self.report.add("liquidation_mismatch", seq, event.id, _differences(event, expected))

    def close_mark(self, seq: int | None) -> None:
        self.report.discrepancies.extend(self.missed(seq))
        self.expected = []

    def missed(self, seq: int | None) -> list[Discrepancy]:
        """The decisions of the last mark (or funding, or trade) that no stored event held, named at ``seq``."""
        found = []
        for missing in self.expected:
            what = f"{', '.join(ev.accounts_of(missing)) or 'nobody'} {getattr(missing, 'market', None) or missing.TYPE}"
            found.append(Discrepancy("missed_liquidation", seq, missing.id,
                                     f"the engine at {self.expected_from} decides {what}, but no such event is stored"))
        return found

    def ingested_event(self, seq: int, event: ev.Event) -> None:
        self.close_mark(seq)
        try:
            with arithmetic():
                validate(self.state, event)
                rule_checks.check(self.state, event)
        except LedgerError as exc:
            self.report.add("invalid_event", seq, event.id, str(exc))

    def after_apply(self, seq: int, event: ev.Event, postings: list[Posting]) -> None:
        with arithmetic():  # exact: Python's default context would round wide figures
            for posting in postings:
                self.totals[posting.asset] += posting.amount
        unbalanced = {a: t for a, t in self.totals.items() if t != 0}
        if unbalanced:
            self.report.add("trial_balance", seq, event.id, f"books do not sum to zero: {unbalanced}")
            self.totals.clear()
        expected = self.session.redecide(event)
        if expected is not None:
            self.expected = expected
            self.expected_from = event.id
            self.report.marks_rederived += not isinstance(event, ev.Trade)
        account = getattr(event, "account", None)
        if account is not None:
            self.stream_versions[account] += 1
        if seq in self.snapshots:
            self.report.snapshots_checked += 1
            if self.snapshots[seq] != dump_state(self.state):
                self.report.add("projection", seq, event.id, "the stored snapshot differs from the full replay")
        for name, text in self.account_snapshots.get(seq, ()):
            self.report.snapshots_checked += 1
            acct = self.state.accounts.get(name)
            if acct is None or text != dump_account(acct, self.stream_versions[name]):
                self.report.add("projection", seq, event.id,
                                f"the stored snapshot of account {name} differs from the full replay")

    def counted_up_to(self, store: AuditedLog, seq: int) -> None:
        """Start the accounts' event counts at event ``seq`` (a span that does not start at the first event), where a
        stored account snapshot after it needs them: each account stream's version there (the append numbers an
        account's events in its stream, and the chain covers both; ``audit_parts`` splits only a log whose chain
        holds)."""
        if any(at > seq for at in self.account_snapshots):
            for stream, version in store.stream_versions(ACCOUNT_STREAM_PREFIX, upto_seq=seq).items():
                self.stream_versions[stream[len(ACCOUNT_STREAM_PREFIX):]] = version

    def finish(self) -> None:
        self.close_mark(None)
        final = {a: t for a, t in trial_balance(self.state).items() if t != 0}
        if final:
            self.report.add("trial_balance", self.state.seq, self.state.last_event_id, f"final books do not sum to zero: {final}")


def audit(store: AuditedLog, progress: Callable[[int], None] | None = None, *, exhaustive: bool = False) -> AuditReport:
    """Prove the log (see module docstring); never writes.

    At each mark the rule is re-run on the accounts the liquidation index
    names as candidates (a proven superset of the distressed ones, so nothing
    can be missed); ``exhaustive`` re-runs it on every exposed account instead,
    which costs O(accounts) per mark. ``ledger.compliance.audit_parts`` runs
    the same checks in parts side by side.
    """
    report = AuditReport(exhaustive=exhaustive)
    check_chain(store, report)
    state = audit_span(store, report, exhaustive=exhaustive, progress=progress).state
    if state is not None:
        check_fast_path(store, report, state)
    return report


def check_chain(store: ProvenLog, report: AuditReport) -> None:
    """The hash chain from the first event: its head into ``report``, and its first break."""
    chain = store.verify()
    report.head_hash = chain.head_hash
    if chain.problem is not None:  # not ok
        report.add("hash_chain", chain.first_bad_seq, chain.first_bad_event, chain.problem)


@frozen
class SpanEnd:
    """Where a span of the audit ended."""

    state: LedgerState | None
    """the state the reference fold reached; None: it stopped at a row it could not replay (named in the report)"""
    missed: list[Discrepancy]
    """a span that ends before the head: what its last mark (or funding, or trade) decides that no row it folded
    holds; the one pass names these at the next row, unless that row does not decode (their ``seq`` is None here)"""


def audit_span(
    store: AuditedLog, report: AuditReport, *, state: LedgerState | None = None, upto_seq: int | None = None,
    to_head: bool = True, exhaustive: bool = False, progress: Callable[[int], None] | None = None,
) -> SpanEnd:
    """Re-derive and check the rows after ``state`` (from the first event when None) up to ``upto_seq`` (the head
    when None) into ``report``.

    The span that ends the audit (``to_head``) closes the books. One that
    ends before it leaves its last decisions open (``SpanEnd.missed``): the
    part after it decides where they are named (``audit_parts``).
    """
    auditor = _Auditor(store, report, exhaustive)
    if state is not None and state.seq:
        auditor.counted_up_to(store, state.seq)
    try:
        reached = project(store, state=state, upto_seq=upto_seq, observers=[auditor], progress=progress, checked=True)
    except Unreplayable as exc:
        detail = (f"payload does not decode: {exc.cause}" if exc.kind == "undecodable"
                  else f"cannot be folded: {exc.cause!r}; audit stops here")
        report.add(exc.kind, exc.row.seq, exc.row.event_id, detail)
        return SpanEnd(None, [])
    if to_head:
        auditor.finish()
        return SpanEnd(reached, [])
    return SpanEnd(reached, auditor.missed(None))


def check_fast_path(store: ProvenLog, report: AuditReport, state: LedgerState) -> None:
    """The replay fast path from the first event must reach exactly ``state``, the reference fold's."""
    fast = load.folded(store, state.seq)
    if dump_state(fast) != dump_state(state):
        report.add("projection", state.seq, state.last_event_id,
                   "the replay fast path differs from the reference fold")
