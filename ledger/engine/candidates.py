"""Which accounts a mark can possibly distress, without looking at all of them.

The version in force gives, for each open position of an account that is not
distressed, a trigger price (``rules.base.Trigger``): a long can be distressed
only at a mark at or below it, a short at or above it; the flat-rate model's
derivation is in ``rules.flat``. Trigger prices are kept per market and side
(``engine.trigger_books``: heaps, the most exposed on top), so a mark only
visits the accounts whose trigger it crosses: O(k), plus the dead entries
met on the way, and a re-index costs one push per trigger. Triggers round towards the mark side, so the candidates
are always a superset of the distressed accounts; the engine then checks each
exactly, in name order, as a full scan would. A version that cannot bound a
position gives an infinite trigger: that position is a candidate at every
mark. Each margin scope of an account is bounded on its own: its cross
positions together, and each isolated position alone (a one-position account
whose cash is its margin). Anything that changes an account (fills, cash,
isolated margin, liquidations) recomputes its triggers, but for a fill that
took a cross position down when the version says the triggers still stand
(``rules.base.TriggerStands``: E − MM is then nowhere in their range below
its least value there before; 39% of the benchmark history's fills); a new rule activation, or a trade moving the
valuation of a market that has no mark yet, marks the whole index stale and
the next mark rebuilds it. A what-if index is built with the substituted
rules.

Funding: a payment lowers a payer's buffer without any price moving, which
would leave its triggers on the unsafe side. So triggers are computed as if
each margin scope's cash were lower by a funding reserve (``FUNDING_RESERVE``
of its notional at the marks when indexed): while the funding an account has
paid since it was indexed stays within its reserve, its triggers remain a
superset, and only an account that used its reserve up is re-indexed. A
funding event thus costs its postings, one subtraction per payer and a range
query, instead of recomputing every payer's triggers (the price: triggers a
reserve tighter, so a mark may name a few more candidates, each then checked
exactly).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import ROUND_FLOOR, Context, Decimal
from types import MappingProxyType
from typing import Any

from ledger.domain import events as ev
from ledger.domain.money import ZERO, arithmetic
from ledger.domain.state import LedgerState, RulesInForce
from ledger.engine.liquidation import Substitute, version_in_force
from ledger.engine.trigger_books import TriggerBook
from ledger.engine.views import open_scopes, scope_views
from rules.base import AccountView, RuleVersion, ScopePosition

__all__ = ["LiquidationIndex", "FUNDING_RESERVE", "INDEX_TREATMENT"]

_RESERVE = Context(prec=60, rounding=ROUND_FLOOR)
"""The reserve's own arithmetic (a bound: rounded down, consistently)."""

_PlainTriggers = Callable[[Decimal, Sequence[ScopePosition], Any], list[tuple[str, bool, Decimal]]]
"""A version's ``scope_triggers``, bound (``rules.base.ScopeTriggers``)."""

_Stands = Callable[[Decimal, bool, Decimal, Decimal, Decimal, str, Any], bool]
"""A version's ``trigger_stands``, bound (``rules.base.TriggerStands``)."""

_Deciding = tuple[RuleVersion, Any, _PlainTriggers | None, _Stands | None]
"""The version that decides, its parsed params, and its ``scope_triggers`` and ``trigger_stands`` if it has them."""

FUNDING_RESERVE = Decimal("0.001")
"""The funding an account may pay before its triggers are recomputed, as a share of each margin scope's notional
(ten periods at the usual 0.01%)."""

INDEX_TREATMENT: Mapping[str, str] = MappingProxyType({
    "market_listed": "exempt: moves no account (an unmarked market's holders are valued at their trades)",
    "deposit": "keeps its account's triggers: cash only raises the buffer (distress never rises with cash), so they "
               "stay a superset (`event_folded`)",
    "withdrawal": "re-indexes its account (`event_folded`)",
    "trade": "re-indexes its account, unless it took a cross position down and the version says the account's triggers "
             "stand (`rules.base.TriggerStands`); leaves the index stale while its market has no mark (its price "
             "values every holder)",
    "mark": "its candidates, decided, then re-indexed (`price_candidates`, `refresh`)",
    "rules_activated": "leaves the index stale: rebuilt at the next mark with the new rates",
    "funding": "re-indexes the payers past their reserve, then its candidates as a mark's (`funding_candidates`)",
    "margin_mode": "re-indexes its account (`event_folded`)",
    "isolated_margin": "re-indexes its account (`event_folded`)",
    "liquidation": "re-indexes its account (made: `refresh` of the accounts decided for; stored: `event_folded`)",
    "bankruptcy": "re-indexes its account (made: `refresh` of the accounts decided for; stored: `event_folded`)",
    "loss_allocation_activated": "exempt: moves no account (it decides who pays a later bankruptcy's residual)",
    "auto_deleverage": "re-indexes every account it filled (made: `refresh`; stored: `event_folded`; carried over "
                       "from another writer: leaves the index stale, its stream names no account)",
})
"""How the index stays true after each event type: a new type must be added here, and to ``docs/events.md``'s
checklist (``tests/test_event_types.py`` holds the keys to ``EVENT_TYPES``)."""


class LiquidationIndex:
    """Trigger prices per market, for the rules in force (or a what-if substitute for them)."""

    def __init__(self, substitute: Substitute | None = None) -> None:
        self.substitute = substitute
        self._longs: dict[str, TriggerBook] = {}
        self._shorts: dict[str, TriggerBook] = {}
        self._entries: dict[str, list[tuple[str, bool, Decimal]]] = {}
        """each account's triggers (which books hold them, and whether a re-index moved them)"""
        self._allowance: dict[str, Decimal] = {}
        """Funding each account may still pay before its triggers stop being a superset (its smallest scope reserve)."""
        self._decides: tuple[RulesInForce, _Deciding] | None = None
        """(the rules in force, what decides under them): once per activation"""
        self.stale = True

    # -- maintenance ------------------------------------------------------
    def rebuild(self, state: LedgerState, accounts: Iterable[str] | None = None) -> None:
        """Index every account of ``state`` afresh (or only ``accounts``: a what-if world indexes its own diverged
        accounts, the others' entries being shared, ``ledger.compliance.differential``)."""
        self._longs, self._shorts, self._entries, self._allowance = {}, {}, {}, {}
        self.stale = False
        if state.rules is None:
            return
        for account in state.accounts if accounts is None else accounts:
            if account in state.accounts:
                self._index(state, account)

    def account_changed(self, state: LedgerState, account: str) -> None:
        if self.stale:
            return
        if state.rules is None:
            self._remove(account)
            return
        entries, allowance = self._triggers(state, account)
        if entries and entries == self._entries.get(account):
            # the very same triggers (an account whose buffer is within its funding reserve, re-indexed at every mark
            # that examines it): its book entries stay live, instead of one more dead entry per re-index that every
            # crossing mark walks; its funding allowance starts afresh, as a re-index's does
            assert allowance is not None, "an account with triggers has a scope with a position"
            self._allowance[account] = allowance
            return
        self._remove(account)
        self._add(account, entries, allowance)

    def _remove(self, account: str) -> None:
        """The account's triggers dropped: its list goes, and each of its book entries is dead
        (``engine.trigger_books``: they stay in their heaps until the book is rebuilt)."""
        self._allowance.pop(account, None)
        for market, is_long, _ in self._entries.pop(account, ()):
            (self._longs if is_long else self._shorts)[market].drop(account)

    def _index(self, state: LedgerState, account: str) -> None:
        self._add(account, *self._triggers(state, account))

    def _triggers(self, state: LedgerState, account: str) -> tuple[list[tuple[str, bool, Decimal]], Decimal | None]:
        """The account's triggers under the rules in force (none without an open position), and the funding it may
        pay before they stop being a superset (None: no scope with a position)."""
        scopes = open_scopes(state, account)
        if not scopes:
            return [], None
        assert state.rules is not None, "an account is indexed only while rules are in force"
        version, params, plain, _ = self._deciding(state.rules)
        entries: list[tuple[str, bool, Decimal]] = []
        allowance = None
        add, multiply, subtract = _RESERVE.add, _RESERVE.multiply, _RESERVE.subtract
        for asset, cash, positions in scopes:  # each scope holds a position: each pays funding and bounds some
            # rounded down in its own context: the same figure lowers the cash and bounds the payments, so its
            # rounding never matters (and never trips the ledger's exact context around the index)
            reserve = ZERO
            for _, size, _, mark in positions:
                reserve = add(reserve, multiply(abs(size), mark))
            reserve = multiply(reserve, FUNDING_RESERVE)
            allowance = reserve if allowance is None or reserve < allowance else allowance
            # as if the reserve were already paid; kept as plain tuples: CPython stops tracking a tuple of strings,
            # bools and decimals, so a million entries cost the garbage collector nothing (a NamedTuple stays
            # tracked: measured +40% on a 1M rebuild)
            if plain is not None:  # the version's own plain path (``rules.base.ScopeTriggers``)
                entries.extend(plain(subtract(cash, reserve), positions, params))
            else:
                reserved = AccountView(account, asset, subtract(cash, reserve), scope_views(state, positions))
                entries.extend(map(tuple, version.triggers(reserved, params)))  # type: ignore[arg-type]  # a Trigger is (market, is_long, price)
        return entries, allowance

    def _add(self, account: str, entries: list[tuple[str, bool, Decimal]], allowance: Decimal | None) -> None:
        """The account's triggers into the books (the account holds no entry now)."""
        if not entries and allowance is None:
            return
        if allowance is not None:
            self._allowance[account] = allowance
        for market, is_long, trigger in entries:
            books = self._longs if is_long else self._shorts
            book = books.get(market)
            if book is None:
                book = books[market] = TriggerBook(is_long)
            book.add(trigger, account)
        self._entries[account] = entries

    def _deciding(self, in_force: RulesInForce) -> _Deciding:
        """The version and parsed params that decide while ``in_force`` is the activation (the substitute's, in a
        what-if world), and the version's ``scope_triggers`` and ``trigger_stands`` if it has them: looked up once per
        activation instead of once per account indexed."""
        found = self._decides
        if found is None or found[0] is not in_force:
            rules = self.substitute(in_force) if self.substitute else in_force
            version, params = version_in_force(rules)
            found = self._decides = (in_force, (version, params, getattr(version, "scope_triggers", None),
                                                getattr(version, "trigger_stands", None)))
        return found[1]

    def event_folded(self, state: LedgerState, event: ev.Event) -> None:
        """Keep the index true after ``event`` was folded into ``state``."""
        if isinstance(event, ev.RulesActivated) or (
            isinstance(event, ev.Trade) and state.markets[event.market].mark_price is None
        ):
            self.stale = True  # new rates, or a trade price valuing every holder of an unmarked market
        if isinstance(event, ev.Deposit) and event.amount > 0:  # a bigger buffer: the triggers before it stay a superset
            return  # (a stored deposit of nothing or less, which the audit names and still folds, is re-indexed)
        if type(event) is ev.Trade and not self.stale and self._trigger_stands(state, event):
            return  # it took a position down, and the version says its account's triggers still stand
        for account in ev.accounts_of(event):
            self.account_changed(state, account)

    def _trigger_stands(self, state: LedgerState, trade: ev.Trade) -> bool:
        """Whether ``trade`` (folded) took part or all of a cross position off and the version in force says its
        account's triggers stand after it (``rules.base.TriggerStands``): then they are kept as they are.

        A sell leaving a size of zero or more took a long down (it held more
        before); a buy leaving zero or less, a short. Any other fill (one that
        opens, grows or turns a position), an isolated position's, or an
        account without triggers, is re-indexed as before."""
        entries = self._entries.get(trade.account)
        if not entries:
            return False
        account = state.accounts[trade.account]
        market = trade.market
        if market in account.isolated:
            return False
        size = account.positions[market].size
        took_long = trade.side == "sell"
        if (size < 0) if took_long else (size > 0):
            return False  # a fill that opens, grows or turns a position
        trigger = None
        for held, is_long, price in entries:
            if is_long == took_long and held == market:
                trigger = price
                break
        if trigger is None:
            return False  # no trigger for it (none is kept without one)
        assert state.rules is not None, "an account holds triggers only while rules are in force"
        _, params, _, stands = self._deciding(state.rules)
        return stands is not None and stands(trigger, took_long, trade.qty, trade.price, trade.fee, market, params)

    def carried_over(self, state: LedgerState, rows: Iterable[tuple[str, str]]) -> None:
        """Keep the index true after ``state`` was carried over rows other writers appended: their (kind, stream).

        Those rows were decided by their writers and are folded, not decided
        again, so only what would make a trigger unsafe matters, and it is
        re-indexed on the state now:

        - every account whose stream they hold (its cash, positions or
          margins moved);
        - every holder of a market they paid funding in (its reserve was
          drawn on unseen);
        - in every market they marked, the accounts whose trigger its price
          now crosses. An account's triggers split its buffer between its
          positions; once one market is past its trigger, the others' no
          longer bound it (the engine session re-indexes a mark's candidates for
          that reason). Equity depends on the prices now, not on the path,
          so the price now is the one to ask about.

        A rule activation, or a trade while a market has no mark (the trade
        price values its holders), leaves the index stale, as in the
        engine session. Rebuilding instead at the next mark costs O(positions)
        under the log's lock, in every writer that found another's rows.
        """
        if self.stale:
            return
        touched: set[str] = set()
        funded: set[str] = set()
        marked: set[str] = set()
        traded = False
        for kind, stream in rows:
            if kind in (ev.RulesActivated.TYPE, ev.AutoDeleverage.TYPE):  # new rates; or fills of accounts its stream
                self.stale = True                                          # does not name
                return
            traded = traded or kind == ev.Trade.TYPE
            if stream.startswith(ev.ACCOUNT_STREAM_PREFIX):
                touched.add(stream[len(ev.ACCOUNT_STREAM_PREFIX):])
            elif stream.startswith(ev.FUNDING_STREAM_PREFIX):
                funded.add(stream[len(ev.FUNDING_STREAM_PREFIX):])
            elif kind == ev.Mark.TYPE:
                marked.add(stream[len(ev.MARKET_STREAM_PREFIX):])
        if traded and any(market.mark_price is None for market in state.markets.values()):
            self.stale = True
            return
        for market in marked:
            price = state.markets[market].price
            if price is not None:
                touched.update(self.candidates(market, price))
        for market in funded:
            touched.update(state.accounts_in_market(market))
        for account in sorted(touched):
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

    def price_candidates(self, state: LedgerState, event: ev.Mark | ev.Funding) -> list[str]:
        """Candidates after a mark or a funding (already folded into ``state``)."""
        if isinstance(event, ev.Mark):
            return self.mark_candidates(state, event)
        return self.funding_candidates(state, event)

    def funding_candidates(self, state: LedgerState, funding: ev.Funding) -> list[str]:
        """Candidates after ``funding`` (already folded): each payer's payment is taken from its reserve, and the
        payers that used theirs up are re-indexed; then the market's price is looked up as a mark at that price
        would be."""
        price = state.markets[funding.market].price
        assert price is not None, "funding is refused for a market without a price"
        if self.stale:
            self.rebuild(state)  # from the state after the payments: nothing left to deduct
        else:  # a receiver's buffer only grew (distress never rises with cash): its triggers stay a superset
            self.refresh(state, self._reserve_spent(state, funding, price))
        return self.candidates(funding.market, price)

    def _reserve_spent(self, state: LedgerState, funding: ev.Funding, price: Decimal) -> list[str]:
        """The payers of ``funding`` (already folded) whose payments since they were indexed exceed their reserve."""
        spent = []
        allowance = self._allowance
        with arithmetic():
            for name in state.accounts_in_market(funding.market):
                payment = state.accounts[name].positions[funding.market].size * price * funding.rate
                if payment > 0:
                    left = allowance.get(name, ZERO) - payment
                    allowance[name] = left
                    if left < 0:
                        spent.append(name)
        return spent

    def candidates(self, market: str, price: Decimal) -> list[str]:
        """Accounts the mark may distress (a superset), sorted by name."""
        found: set[str] = set()
        longs = self._longs.get(market)
        if longs is not None:
            found.update(longs.crossed(price))
        shorts = self._shorts.get(market)
        if shorts is not None:
            found.update(shorts.crossed(price))
        return sorted(found)

    def size(self) -> int:
        """The live triggers held."""
        return sum(len(book) for book in self._longs.values()) + sum(len(book) for book in self._shorts.values())

