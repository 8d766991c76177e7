"""The replay fold: state after an event = apply(state before, event).

One applier per event type, in an explicit table (``APPLIERS``; a test checks
that every event type has one). An applier updates the non-monetary state
(positions, marks, rules) and returns the event's postings; ``apply`` asserts
they balance and books them. Replay applies what was recorded: liquidation
events are folded like any other fact and rules are never re-run here.

Isolated margin: whatever an isolated position's fill, fee, funding,
liquidation penalty or bankruptcy moves is booked to its isolated margin
(``_to``), never to the account's cross cash; when a fill closes the position
completely, what is left of its margin returns to cross cash in the same
event's postings (``_release``); a negative rest waits for the engine's
bankruptcy of that position, which follows at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from ledger.domain import events as ev
from ledger.domain.money import ZERO, arithmetic
from ledger.domain.positions import apply_fill, closing_side
from ledger.domain.postings import Posting, assert_balanced, isolated, system, user
from ledger.domain.state import (
    CLEARING,
    EXTERNAL,
    FEES,
    FUNDING,
    INSURANCE_FUND,
    LIQUIDATION,
    SOCIALIZED_LOSS,
    LedgerState,
    MarketState,
    Position,
    RulesInForce,
)

__all__ = ["APPLIERS", "apply", "replay"]

Applier = Callable[[LedgerState, Any], list[Posting]]
"""Folds one event of its type (the table below pairs each type with its applier)."""


def _market_listed(state: LedgerState, event: ev.MarketListed) -> list[Posting]:
    state.markets[event.market] = MarketState(event.market, event.settle_asset, event.lot_size, event.id)
    state.system[INSURANCE_FUND].setdefault(event.settle_asset, ZERO)
    return []


def _deposit(state: LedgerState, event: ev.Deposit) -> list[Posting]:
    return [user(event.account, event.asset, event.amount), system(EXTERNAL, event.asset, -event.amount)]


def _withdrawal(state: LedgerState, event: ev.Withdrawal) -> list[Posting]:
    return [user(event.account, event.asset, -event.amount), system(EXTERNAL, event.asset, event.amount)]


def _to(state: LedgerState, account: str, market: str, amount: Decimal) -> Posting:
    """``amount`` for the account's position in ``market``: to its isolated margin if isolated, else to cross cash."""
    asset = state.markets[market].settle_asset
    if state.account(account).is_isolated(market):
        return isolated(account, market, asset, amount)
    return user(account, asset, amount)


def _release(state: LedgerState, account: str, market: str, postings: list[Posting]) -> list[Posting]:
    """An isolated position closed completely: what is left of its margin (after ``postings``) back to cross cash."""
    acct = state.accounts[account]
    if not acct.is_isolated(market) or acct.positions[market].size != 0:
        return []
    left = acct.isolated[market] + sum(
        (p.amount for p in postings if p.book == "isolated" and p.account == account and p.market == market), ZERO
    )
    if left <= 0:  # nothing left, or a deficit: the engine's bankruptcy of the position settles it
        return []
    asset = state.markets[market].settle_asset
    return [isolated(account, market, asset, -left), user(account, asset, left)]


def _fill(
    state: LedgerState, account: str, market: str, side: str, qty: Decimal, price: Decimal, counterparty: str
) -> list[Posting]:
    acct = state.account(account)
    position, realized = apply_fill(acct.positions.get(market) or Position(), side, qty, price)
    state.accounts[account] = acct.with_position(market, position)
    asset = state.markets[market].settle_asset
    return [_to(state, account, market, realized), system(counterparty, asset, -realized)]


def _trade(state: LedgerState, event: ev.Trade) -> list[Posting]:
    postings = _fill(state, event.account, event.market, event.side, event.qty, event.price, CLEARING)
    market = state.markets[event.market]
    state.markets[event.market] = MarketState(
        market.market, market.settle_asset, market.lot_size, market.listed_by, market.mark_price, event.price
    )
    if event.fee:
        state.accounts[event.account] = state.accounts[event.account].with_fee(market.settle_asset, event.fee)
        postings += [_to(state, event.account, event.market, -event.fee), system(FEES, market.settle_asset, event.fee)]
    return postings + _release(state, event.account, event.market, postings)


def _mark(state: LedgerState, event: ev.Mark) -> list[Posting]:
    market = state.markets[event.market]
    state.markets[event.market] = MarketState(
        market.market, market.settle_asset, market.lot_size, market.listed_by, event.price, market.last_trade_price
    )
    return []


def _funding(state: LedgerState, event: ev.Funding) -> list[Posting]:
    """Every open position of the market pays size × P × rate (P its valuation price now), in account-name order."""
    market = state.markets[event.market]
    price = market.price
    assert price is not None, f"{event.id}: funding of a market with no price"
    postings = []
    for name in state.accounts_in_market(event.market):
        acct = state.accounts[name]
        position = acct.positions[event.market]
        payment = position.size * price * event.rate
        state.accounts[name] = acct.with_position(
            event.market, Position(position.size, position.entry_price, position.realized_pnl, position.funding_paid + payment)
        )
        postings += [_to(state, name, event.market, -payment), system(FUNDING, market.settle_asset, payment)]
    return postings


def _margin_mode(state: LedgerState, event: ev.MarginMode) -> list[Posting]:
    acct = state.account(event.account)
    state.accounts[event.account] = acct.with_mode(event.market, event.mode == ev.ISOLATED)
    return []


def _isolated_margin(state: LedgerState, event: ev.IsolatedMargin) -> list[Posting]:
    asset = state.markets[event.market].settle_asset
    return [user(event.account, asset, -event.amount), isolated(event.account, event.market, asset, event.amount)]


def _rules_activated(state: LedgerState, event: ev.RulesActivated) -> list[Posting]:
    rules = RulesInForce(event.version, event.params, event.id, event.at)
    state.rules = rules
    state.rules_history.append(rules)
    return []


def _liquidation(state: LedgerState, event: ev.Liquidation) -> list[Posting]:
    position = state.account(event.account).positions.get(event.market)
    assert position is not None and position.size != 0, f"{event.id}: liquidation of a flat position"
    assert event.side == closing_side(position.size), f"{event.id}: liquidation side grows the position"
    assert event.qty <= abs(position.size), f"{event.id}: liquidation larger than the position"
    if event.qty < abs(position.size):
        scope = state.account(event.account).scope_of(event.market)
        state.record_partial_close(event.account, scope, event.rule_version, event.at)
    postings = _fill(state, event.account, event.market, event.side, event.qty, event.price, LIQUIDATION)
    if event.penalty:
        asset = state.markets[event.market].settle_asset
        postings += [_to(state, event.account, event.market, -event.penalty), system(INSURANCE_FUND, asset, event.penalty)]
    return postings + _release(state, event.account, event.market, postings)


def _loss_allocation_activated(state: LedgerState, event: ev.LossAllocationActivated) -> list[Posting]:
    state.loss_allocation_history.append(RulesInForce(event.version, event.params, event.id, event.at))
    return []


def _auto_deleverage(state: LedgerState, event: ev.AutoDeleverage) -> list[Posting]:
    """Each fill closes its part of a counterparty's position at the mark against the liquidation inventory, and its
    haircut goes from the counterparty's margin scope to the inventory, which paid the bankrupt's deficit for it."""
    postings: list[Posting] = []
    assert event.mark > 0 and event.closed > 0, f"{event.id}: an allocation of nothing"
    for fill in event.fills:
        position = state.account(fill.account).positions.get(event.market)
        assert position is not None and position.size != 0, f"{event.id}: deleverages a flat position of {fill.account}"
        assert fill.side == closing_side(position.size), f"{event.id}: the fill of {fill.account} grows its position"
        assert 0 < fill.qty <= abs(position.size) and fill.haircut >= 0, f"{event.id}: the fill of {fill.account}"
        own = _fill(state, fill.account, event.market, fill.side, fill.qty, event.mark, LIQUIDATION)
        own += [_to(state, fill.account, event.market, -fill.haircut), system(LIQUIDATION, event.asset, fill.haircut)]
        postings += own + _release(state, fill.account, event.market, own)
    return postings


def _bankruptcy(state: LedgerState, event: ev.Bankruptcy) -> list[Posting]:
    assert event.insurance_covered + event.adl_covered + event.socialized_loss == event.deficit, \
        f"{event.id}: deficit split wrong"
    if event.market is not None:
        acct = state.account(event.account)
        assert acct.is_isolated(event.market), f"{event.id}: bankruptcy of a position not margined isolated"
        assert acct.positions[event.market].size == 0, f"{event.id}: bankruptcy of an isolated position still open"
        assert acct.isolated[event.market] == -event.deficit, f"{event.id}: deficit is not the isolated margin's"
        owed = isolated(event.account, event.market, event.asset, event.deficit)
    else:
        owed = user(event.account, event.asset, event.deficit)
    postings = [
        owed,
        system(INSURANCE_FUND, event.asset, -event.insurance_covered),
        system(SOCIALIZED_LOSS, event.asset, -event.socialized_loss),
    ]
    if event.adl_covered:  # the inventory pays it now; the auto_deleverage events after it get it back
        postings.append(system(LIQUIDATION, event.asset, -event.adl_covered))
    return postings


APPLIERS: Mapping[type[ev.Event], Applier] = {
    ev.MarketListed: _market_listed,
    ev.Deposit: _deposit,
    ev.Withdrawal: _withdrawal,
    ev.Trade: _trade,
    ev.Mark: _mark,
    ev.RulesActivated: _rules_activated,
    ev.Funding: _funding,
    ev.MarginMode: _margin_mode,
    ev.IsolatedMargin: _isolated_margin,
    ev.LossAllocationActivated: _loss_allocation_activated,
    ev.Liquidation: _liquidation,
    ev.Bankruptcy: _bankruptcy,
    ev.AutoDeleverage: _auto_deleverage,
}


def _book(state: LedgerState, postings: list[Posting]) -> None:
    """Book postings: system balances in place, each user account once per book (one new value each)."""
    user_deltas: dict[str, dict[str, Decimal]] = {}
    isolated_deltas: dict[str, dict[str, Decimal]] = {}
    for posting in postings:
        if posting.book == "user":
            deltas = user_deltas.setdefault(posting.account, {})
            deltas[posting.asset] = deltas.get(posting.asset, ZERO) + posting.amount
        elif posting.book == "isolated":
            assert posting.market is not None
            margins = isolated_deltas.setdefault(posting.account, {})
            margins[posting.market] = margins.get(posting.market, ZERO) + posting.amount
        else:
            balances = state.system[posting.account]
            balances[posting.asset] = balances.get(posting.asset, ZERO) + posting.amount
    for account, deltas in user_deltas.items():
        current = state.account(account)
        if any(amount != 0 or asset not in current.cash for asset, amount in deltas.items()):
            state.accounts[account] = current.with_cash_deltas(deltas)
    for account, margins in isolated_deltas.items():
        state.accounts[account] = state.accounts[account].with_isolated_deltas(margins)


def apply(state: LedgerState, event: ev.Event, seq: int | None = None) -> list[Posting]:
    """Fold one event into ``state`` (in place) and return its balanced postings."""
    with arithmetic():
        postings = APPLIERS[type(event)](state, event)
        assert_balanced(postings, event.id)
        _book(state, postings)
    state.seq = seq if seq is not None else state.seq + 1
    state.last_at = event.at
    state.last_event_id = event.id
    state.events_applied += 1
    return postings


def replay(events: Iterable[ev.Event], state: LedgerState | None = None) -> LedgerState:
    """Fold a sequence of events, from scratch or from a given state."""
    state = state if state is not None else LedgerState()
    for event in events:
        apply(state, event)
    return state
