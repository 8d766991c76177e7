"""The web console's reads (``ledger serve``): the CLI's reports at one point of the log, kept while they cannot change.

A page names a *point*: a business time ``as_of`` (the log cut after the last
event at or before it, as ``--as-of`` cuts it) and a recorded time ``known_at``
(only what the ledger had recorded by then, as ``history --known-at``). Both
cut the log at one sequence number: business time never goes backwards along
the log, and neither does the recording time (an append never records a time
before the head's), so what was recorded by ``known_at`` is a prefix too,
found by a binary search over the rows. A ``known_at`` is first held to
``history``'s rule (``reports.history.check_known_at``): it must be past, and
any append in flight is waited for, so its answer is final.

Every figure is what the CLI prints for the same point (``tests/web`` compares
the downloads with the CLI's JSON): the same read models are called with the
same arguments, on a state replayed once for that sequence number. A state,
a history or the engine's records at a sequence number never change (the log
only grows), so they are kept (a few, least recently used first out), and a
read several pages ask for at once is made once (the others wait for it).

Every read goes through the facade's one reading entry (``Ledger.reader``):
the schema is checked, and with a key an unproven tail is refused
(``UnprovenLog``) before anything is shown. Nothing here writes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import Future
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from attrs import asdict, frozen

from ledger.app import ledger as facade
from ledger.app.ledger import Ledger
from ledger.domain import events as ev
from ledger.domain.money import to_str
from ledger.domain.scales import Scales
from ledger.domain.state import LedgerState
from ledger.domain.timefmt import format_time
from ledger.errors import InvalidEvent, LedgerError
from ledger.reports import balances as balance_report
from ledger.reports import console as console_report
from ledger.reports import history_pages, records
from ledger.reports import reconcile as reconciliation
from ledger.reports.history import check_known_at
from ledger.store import VerifyReport
from rules import registry as rules_registry

__all__ = ["Point", "ConsoleReads", "NotFound", "check_worlds", "RISK_COLUMNS"]

RISK_COLUMNS = console_report.RISK_COLUMNS

T = TypeVar("T")


class NotFound(LedgerError, LookupError):
    """What a page asks for is not in the ledger at its point (an account, a market, an event): a 404."""


@frozen
class Point:
    """Where a page reads the log: after event ``seq`` (``as_of`` and ``known_at`` applied); ``head_seq`` when asked."""

    seq: int
    head_seq: int
    as_of: datetime | None = None
    known_at: datetime | None = None

    @property
    def at_head(self) -> bool:
        return self.as_of is None and self.known_at is None


class _Memo:
    """A small least-recently-used store of values that never change, each made once however many ask at once."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._done: OrderedDict[Hashable, Any] = OrderedDict()
        self._making: dict[Hashable, Future[Any]] = {}

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        with self._lock:
            if key in self._done:
                self._done.move_to_end(key)
                return self._done[key]  # type: ignore[no-any-return]  # a key is always stored with its maker's type
            waiting = self._making.get(key)
            if waiting is None:
                self._making[key] = Future()
        if waiting is not None:
            return waiting.result()  # type: ignore[no-any-return]  # as above
        try:
            value = make()
        except BaseException as exc:
            with self._lock:
                self._making.pop(key).set_exception(exc)
            raise
        with self._lock:
            self._done[key] = value
            while len(self._done) > self._size:
                self._done.popitem(last=False)
            self._making.pop(key).set_result(value)
        return value


class ConsoleReads:
    """The reads of one console over one ledger (shared by every request: the store opens a connection per read)."""

    def __init__(self, ledger: Ledger, *, overrides: Mapping[str, int] | None = None, states: int = 4,
                 histories: int = 256, pages: int = 512) -> None:
        self.ledger, self.overrides = ledger, dict(overrides or {})
        self._states = _Memo(states)
        self._small = _Memo(histories)
        self._pages = _Memo(pages)
        self._seqs = history_pages.StreamSeqs()

    # -- the point ---------------------------------------------------------------
    def point(self, as_of: datetime | None = None, known_at: datetime | None = None) -> Point:
        """The point a page reads at; refuses (``UnprovenLog``, ``InvalidEvent``) as the CLI would."""
        store = self.ledger.reader()
        head = store.head()[0]
        seq = head
        if as_of is not None:
            seq = min(seq, store.last_seq_at_or_before(format_time(as_of)))
        if known_at is not None:
            seq = min(seq, self._small.get(("known", format_time(known_at)), lambda: self._known_seq(known_at)))
        return Point(seq, head, as_of, known_at)

    def _known_seq(self, known_at: datetime) -> int:
        """The last event recorded at or before ``known_at`` (recording times never decrease along the log)."""
        store = self.ledger.reader()
        check_known_at(store, known_at, self.ledger.recording_now)
        wanted, low, high = format_time(known_at), 0, store.head()[0]
        while low < high:  # the largest seq whose row was recorded by then (row 0: none)
            middle = (low + high + 1) // 2
            row = store.row_at(middle)
            if row is not None and row.recorded_at <= wanted:
                low = middle
            else:
                high = middle - 1
        return low

    def remember(self, key: Hashable, make: Callable[[], T]) -> T:
        """A value the caller derives from reads at one point (a rendered page: its key names the point), kept as the
        reads are, and made once however many ask at once."""
        return self._pages.get(key, make)

    # -- the log now ---------------------------------------------------------------
    def head(self) -> dict[str, Any]:
        """The head now: sequence, chain hash, and the key (if any) this console reads with."""
        store = self.ledger.reader(proven=False)
        seq, chain = store.head()
        keyring = store.keyring
        return {"seq": seq, "hash": chain, "keyed": keyring is not None,
                "key_id": keyring.key_id if keyring is not None else None, "seals": len(store.seals())}

    def verify(self) -> VerifyReport:
        """``ledger verify`` now (the chain, the seals): made once per head."""
        seq, chain = self.ledger.reader(proven=False).head()
        return self._small.get(("verify", seq, chain), self.ledger.verify)

    def scales(self) -> Scales:
        """The display scales of the listed markets (``Ledger.scales``), made again when a market is listed."""
        listed = len(self.ledger.reader().stream_names(ev.MARKET_STREAM_PREFIX))
        return self._small.get(("scales", listed), lambda: self.ledger.scales(self.overrides))

    # -- replayed state and the CLI's reports at a point -----------------------------------
    def state(self, point: Point) -> LedgerState:
        return self._states.get(("state", point.seq), lambda: self.ledger.state(seq=point.seq))

    def balances(self, point: Point) -> dict[str, Any]:
        """``ledger balances --as-of AS_OF --format json`` (at the point's sequence number)."""
        return self._small.get(("balances", point.seq, point.as_of),
                               lambda: balance_report.balances(self.state(point), as_of=point.as_of))

    def account(self, name: str, point: Point) -> dict[str, Any]:
        """``ledger account NAME --as-of AS_OF --format json``; ``NotFound`` when it has no events by the point."""
        return self._small.get(("account", name, point.seq, point.as_of), lambda: self._account(name, point))

    def _account(self, name: str, point: Point) -> dict[str, Any]:
        state = self.ledger.account(name, seq=point.seq)
        if name not in state.accounts:
            raise NotFound(f"account {name!r} has no events up to #{point.seq}")
        queues = None
        if self.ledger.reader().stream_version(ev.LOSS_ALLOCATION_STREAM) > 0:  # as ``Ledger.account_balances``
            queues = balance_report.adl_queues(self.state(point), sorted(state.accounts[name].positions))
        return balance_report.balances(state, name, system=False, as_of=point.as_of, queues=queues)

    def history(self, name: str, point: Point) -> list[dict[str, Any]]:
        """``ledger history NAME --to AS_OF --known-at KNOWN_AT --format json`` (rows up to the point only)."""
        def make() -> list[dict[str, Any]]:
            try:
                rows = self.ledger.history(name, end=point.as_of, known_at=point.known_at)
            except InvalidEvent as exc:
                raise NotFound(str(exc)) from None
            return [row for row in rows if row["seq"] <= point.seq]
        return self._small.get(("history", name, point.seq, point.as_of, point.known_at), make)

    def history_length(self, name: str, point: Point) -> int:
        """How many rows ``history`` has (its own events read, no row folded)."""
        return self._plan(name, point).total

    def history_page(self, name: str, point: Point, offset: int, limit: int) -> list[dict[str, Any]]:
        """``history``'s rows ``offset`` to ``offset + limit``, at the cost of the account's own events and of the
        page (``reports.history_pages``), not of the log."""
        plan = self._plan(name, point)
        key = ("history page", name, point.seq, offset, limit)
        return self._small.get(key, lambda: history_pages.history_page(self.ledger.reader(), plan, offset, limit))

    def equity_rows(self, name: str, point: Point) -> list[dict[str, Any]]:
        """The rows of ``history`` an equity chart draws: every own and funding row, and marks sampled evenly."""
        plan = self._plan(name, point)
        return self._small.get(("equity rows", name, point.seq),
                               lambda: history_pages.equity_rows(self.ledger.reader(), plan))

    def _plan(self, name: str, point: Point) -> history_pages.HistoryPlan:
        return self._small.get(("history plan", name, point.seq),
                               lambda: history_pages.plan_history(self.ledger.reader(), self._seqs, name, point.seq))

    def _records(self, point: Point) -> dict[str, list[dict[str, Any]]]:
        every = self._small.get(("records", point.head_seq), lambda: {
            "liquidations": self.ledger.liquidation_records(), "bankruptcies": self.ledger.bankruptcy_records(),
            "deleverages": self.ledger.deleverage_records()})
        return {kind: [r for r in rows if r["seq"] <= point.seq] for kind, rows in every.items()}

    def liquidations(self, point: Point, account: str | None = None) -> list[dict[str, Any]]:
        """``ledger liquidations [--account A] --to AS_OF --format json`` (up to the point)."""
        return [r for r in self._records(point)["liquidations"] if account is None or r["account"] == account]

    def bankruptcies(self, point: Point, account: str | None = None) -> list[dict[str, Any]]:
        """``ledger bankruptcies [--account A] --format json``, up to the point."""
        return [r for r in self._records(point)["bankruptcies"] if account is None or r["account"] == account]

    def deleverages(self, point: Point, account: str | None = None) -> list[dict[str, Any]]:
        """``ledger deleverages [--account A] --to AS_OF --format json`` (up to the point)."""
        return [r for r in self._records(point)["deleverages"] if account is None or r["account"] == account]

    def rules(self, point: Point) -> dict[str, Any]:
        """``ledger rules list --format json``, as of the point."""
        return self._small.get(("rules", point.seq), lambda: records.rules_report(self.state(point)))

    def explain(self, event_id: str, point: Point) -> dict[str, Any]:
        """``ledger explain ID --format json``; ``NotFound`` for an id the log does not hold by the point, or one that
        is not an engine decision."""
        try:
            info = self._small.get(("explain", event_id), lambda: self.ledger.explain(event_id))
        except InvalidEvent as exc:
            raise NotFound(str(exc)) from None
        if info["seq"] > point.seq:
            raise NotFound(f"event {event_id}: recorded after #{point.seq}, the point this page reads at")
        return info

    # -- the console's own read models ---------------------------------------------------
    def risk(self, point: Point) -> list[dict[str, Any]]:
        """Per account and settle asset: equity, maintenance margin, margin ratio, distance to liquidation."""
        return self._small.get(("risk", point.seq),
                               lambda: console_report.risk_rows(self.state(point), self.balances(point)))

    def open_interest(self, point: Point) -> list[dict[str, Any]]:
        return self._small.get(("open_interest", point.seq), lambda: console_report.open_interest(self.state(point)))

    def insurance_fund(self, point: Point) -> dict[str, list[dict[str, Any]]]:
        """The insurance fund per settle asset after each engine event that moved it, up to the point."""
        settle = {market: info.settle_asset for market, info in self.state(point).markets.items()}
        return console_report.insurance_fund_series(self.liquidations(point), self.bankruptcies(point), settle)

    def markets(self, point: Point) -> list[str]:
        return sorted(self.state(point).markets)

    def market(self, name: str, point: Point) -> dict[str, Any]:
        """A market's listing, its marks and funding payments up to the point, and its open positions then."""
        state = self.state(point)
        if name not in state.markets:
            raise NotFound(f"market {name!r} is not listed by #{point.seq}")
        def make() -> dict[str, Any]:
            store = self.ledger.reader()
            marks, funding = console_report.market_series(
                [*store.read_stream(ev.MARKET_STREAM_PREFIX + name, upto_seq=point.seq),
                 *store.read_stream(ev.FUNDING_STREAM_PREFIX + name, upto_seq=point.seq)])
            info = state.markets[name]
            return {"market": name, "settle_asset": info.settle_asset, "lot_size": to_str(info.lot_size),
                    "mark": None if info.price is None else to_str(info.price), "marks": marks, "funding": funding,
                    "positions": console_report.positions_in_market(self.balances(point), name),
                    "liquidations": [r for r in self.liquidations(point) if r["market"] == name]}
        return self._small.get(("market", name, point.seq, point.as_of), make)

    def reconcile(
        self, statement: Path, point: Point, *, tolerance: Decimal, include_system: bool, encoding: str, delimiter: str,
    ) -> tuple[int, list[dict[str, Any]]]:
        """``ledger reconcile STATEMENT --as-of AS_OF --format json``'s (lines, breaks), against the state at the point."""
        lines = reconciliation.read_statement(statement, encoding, delimiter)
        positions = reconciliation.is_position_statement(statement, encoding, delimiter)
        breaks = reconciliation.reconcile(self.state(point), lines, tolerance, include_system, positions=positions)
        return len(lines), [asdict(b) for b in breaks]


def check_worlds(pairs: Sequence[tuple[str | None, str | None]], policies: Sequence[tuple[str, str | None] | None]) -> None:
    """A what-if's worlds checked as ``ledger whatif`` checks them, before anything replays: each version is
    registered, each params file is read and taken by its version, each policy and its params file likewise (the
    facade's own checks: ``InvalidEvent`` naming the file and the key)."""
    for version, path in pairs:
        if path is not None:
            facade.rule_params_file(version, path)
        elif version is not None:
            rules_registry.get(version)
    for policy in policies:
        facade.checked_policy(policy)
