"""Which accounts a mark can possibly distress, without looking at all of them.

For an account (in one settle asset) that is not distressed, its buffer
B = E − MM > 0 is split into equal shares, one per market it holds. A mark
on market X changes E − MM by (s − |s|·m)·Δp: for a long it falls as the
price falls, for a short as it rises. So each position gets a *trigger price*
— the price at which X alone would have used up its share:

    long:   trigger = p0 − share / (s·(1 − m))       (candidate when mark <= trigger)
    short:  trigger = p0 + share / (|s|·(1 + m))     (candidate when mark >= trigger)

As long as no market has moved past its trigger, the total change is below B
and the account cannot be distressed; so a mark only needs the accounts whose
trigger it crosses: a range query on a sorted list, O(log n + k). Triggers
round towards the mark side (up for longs, down for shorts), so the candidates
are always a superset of the distressed accounts; the engine then checks each
exactly, in name order, as a full scan would. Anything that changes an
account (fills, cash, liquidations) recomputes its triggers; a new rule
activation, or a trade moving the valuation of a market that has no mark yet,
marks the whole index stale and the next mark rebuilds it. A what-if index is
built with the substituted rules' margin rates.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal

from sortedcontainers import SortedList

from ledger.domain import events as ev
from ledger.domain.money import arithmetic
from ledger.domain.state import LedgerState
from ledger.engine.liquidation import Substitute, account_view, params_in_force
from rules import margin

__all__ = ["LiquidationIndex"]

_UP = Context(prec=40, rounding=ROUND_CEILING)
_DOWN = Context(prec=40, rounding=ROUND_FLOOR)
_ALWAYS_LONG = Decimal("Infinity")
_ALWAYS_SHORT = Decimal("-Infinity")


class LiquidationIndex:
    """Trigger prices per market, for the rules in force (or a what-if substitute for them)."""

    def __init__(self, substitute: Substitute | None = None) -> None:
        self.substitute = substitute
        self._longs: dict[str, SortedList] = {}
        self._shorts: dict[str, SortedList] = {}
        self._entries: dict[str, list[tuple[str, bool, Decimal]]] = {}
        self.stale = True

    # -- maintenance ------------------------------------------------------
    def rebuild(self, state: LedgerState) -> None:
        self._longs, self._shorts, self._entries = {}, {}, {}
        self.stale = False
        if state.rules is None:
            return
        for account in state.accounts:
            self._index(state, account)

    def account_changed(self, state: LedgerState, account: str) -> None:
        if self.stale:
            return
        self._remove(account)
        if state.rules is not None:
            self._index(state, account)

    def _remove(self, account: str) -> None:
        for market, is_long, trigger in self._entries.pop(account, ()):
            (self._longs if is_long else self._shorts)[market].remove((trigger, account))

    def _index(self, state: LedgerState, account: str) -> None:
        acct = state.accounts[account]
        open_markets = acct.open_markets()
        if not open_markets:
            return
        rules = self.substitute(state.rules) if self.substitute else state.rules
        params = params_in_force(rules)
        entries: list[tuple[str, bool, Decimal]] = []
        for settle in sorted({state.markets[m].settle_asset for m in open_markets}):
            view = account_view(state, account, settle)
            with arithmetic():
                buffer = margin.equity(view) - margin.maintenance(view, params)
            share = _DOWN.divide(buffer, len(view.positions)) if buffer > 0 else None
            for position in view.positions:
                rate = params.markets[position.market].maintenance_margin_rate
                entries.append(_entry(position.market, position.size, position.mark, rate, share))
        for market, is_long, trigger in entries:
            book = self._longs if is_long else self._shorts
            book.setdefault(market, SortedList()).add((trigger, account))
        self._entries[account] = entries

    def event_folded(self, state: LedgerState, event: ev.Event) -> None:
        """Keep the index true after ``event`` was folded into ``state``."""
        if isinstance(event, ev.RulesActivated) or (
            isinstance(event, ev.Trade) and state.markets[event.market].mark_price is None
        ):
            self.stale = True  # new rates, or a trade price valuing every holder of an unmarked market
        account = getattr(event, "account", None)
        if account is not None:
            self.account_changed(state, account)

    def refresh(self, state: LedgerState, accounts: list[str]) -> None:
        """Re-reference accounts a mark examined (their buffers moved with the price)."""
        for account in accounts:
            self.account_changed(state, account)

    # -- queries ----------------------------------------------------------
    def mark_candidates(self, state: LedgerState, mark: ev.Mark) -> list[str]:
        """Candidates for ``mark`` (already folded into ``state``), rebuilding a stale index first."""
        if self.stale:
            self.rebuild(state)
        return self.candidates(mark.market, mark.price)

    def candidates(self, market: str, price: Decimal) -> list[str]:
        """Accounts the mark may distress (a superset), sorted by name."""
        found: set[str] = set()
        longs = self._longs.get(market)
        if longs:
            found.update(account for _, account in longs.irange((price, ""), None))
        shorts = self._shorts.get(market)
        if shorts:
            found.update(account for _, account in shorts.irange(None, (price, "\U0010ffff")))
        return sorted(found)

    def size(self) -> int:
        return sum(len(book) for book in self._longs.values()) + sum(len(book) for book in self._shorts.values())


def _entry(market: str, size: Decimal, price: Decimal, rate: Decimal, share: Decimal | None) -> tuple[str, bool, Decimal]:
    if size > 0:
        if share is None:
            return market, True, _ALWAYS_LONG
        return market, True, _UP.subtract(price, _DOWN.divide(share, _UP.multiply(size, 1 - rate)))
    if share is None:
        return market, False, _ALWAYS_SHORT
    return market, False, _DOWN.add(price, _DOWN.divide(share, _UP.multiply(-size, 1 + rate)))
