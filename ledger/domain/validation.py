"""Business checks an ingested event must pass against the state it lands on.

The codec has already checked shapes and types; these checks need the state:
the market must be listed, the quantity on its lot grid, the withdrawal
covered, an isolated margin only moved where the account margins isolated,
business time must not go backwards. Business time is one timeline
for the whole ledger (non-decreasing along the log, and so within every
stream): liquidations depend on the order of marks and fills, so an as-of
time must always cut the log at one point.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ledger.domain import events as ev
from ledger.domain.money import ZERO, is_multiple, to_str
from ledger.domain.state import LedgerState
from ledger.domain.timefmt import format_time
from ledger.domain.valuation import cross_equity, isolated_equity
from ledger.errors import InvalidEvent

__all__ = ["validate", "available_to_withdraw", "MAX_REBATE_RATE", "MAX_TRADE_FEE_RATE"]

MAX_REBATE_RATE = Decimal("0.01")
"""A fill's rebate (a negative fee) is at most 1% of its notional: venues pay maker rebates of a few basis points."""
MAX_TRADE_FEE_RATE = Decimal("0.1")
"""A fill's fee is at most 10% of its notional: venues charge a few basis points."""


def _positive(value: Decimal, name: str) -> None:
    if value <= 0:
        raise InvalidEvent(f"{name} must be > 0, got {to_str(value)}")


def _listed(state: LedgerState, market: str) -> None:
    if market not in state.markets:
        raise InvalidEvent(f"unknown market {market!r} (no market_listed event for it)")


def available_to_withdraw(state: LedgerState, account: str, asset: str) -> Decimal:
    """Cross cash in the asset, but never more than the account's cross equity in it (isolated margins are fenced off)."""
    acct = state.account(account)
    cash = acct.cash.get(asset, ZERO)
    if any(m.settle_asset == asset for m in state.markets.values()):
        return max(ZERO, min(cash, cross_equity(state, acct, asset)))
    return max(ZERO, cash)


def _market_listed(state: LedgerState, event: ev.MarketListed) -> None:
    if event.market in state.markets:
        raise InvalidEvent(f"market {event.market!r} is already listed (by {state.markets[event.market].listed_by})")
    _positive(event.lot_size, "lot_size")


def _deposit(state: LedgerState, event: ev.Deposit) -> None:
    _positive(event.amount, "amount")


def _withdrawal(state: LedgerState, event: ev.Withdrawal) -> None:
    _positive(event.amount, "amount")
    available = available_to_withdraw(state, event.account, event.asset)
    if event.amount > available:
        raise InvalidEvent(
            f"withdrawal of {to_str(event.amount)} {event.asset} exceeds the {to_str(available)} "
            f"available to {event.account!r}"
        )


def _trade(state: LedgerState, event: ev.Trade) -> None:
    _listed(state, event.market)
    _positive(event.qty, "qty")
    _positive(event.price, "price")
    lot = state.markets[event.market].lot_size
    try:
        on_grid = is_multiple(event.qty, lot)
    except InvalidOperation:  # the quotient has more digits than the context holds: no lot grid spans that
        raise InvalidEvent(
            f"qty {to_str(event.qty)} is too many orders of magnitude above {event.market} lot size {to_str(lot)}"
        ) from None
    if not on_grid:
        raise InvalidEvent(f"qty {to_str(event.qty)} is not a multiple of {event.market} lot size {to_str(lot)}")
    notional = event.qty * event.price
    if event.fee < -notional * MAX_REBATE_RATE or event.fee > notional * MAX_TRADE_FEE_RATE:
        raise InvalidEvent(
            f"fee {to_str(event.fee)} is outside what a venue charges on a fill of notional {to_str(notional)}: "
            f"a rebate of at most {to_str((MAX_REBATE_RATE * 100).normalize())}% of it, "
            f"a fee of at most {to_str((MAX_TRADE_FEE_RATE * 100).normalize())}%"
        )


def _mark(state: LedgerState, event: ev.Mark) -> None:
    _listed(state, event.market)
    _positive(event.price, "price")


_RATE_BOUND = Decimal(1)


def _funding(state: LedgerState, event: ev.Funding) -> None:
    _listed(state, event.market)
    if state.markets[event.market].price is None:
        raise InvalidEvent(f"market {event.market!r} has neither a mark nor a trade yet: funding needs its price")
    if not -_RATE_BOUND < event.rate < _RATE_BOUND:
        raise InvalidEvent(f"rate must be between -1 and 1 (exclusive), got {to_str(event.rate)}")


def _open_size(state: LedgerState, account: str, market: str) -> Decimal:
    position = state.account(account).positions.get(market)
    return position.size if position is not None else ZERO


def _margin_mode(state: LedgerState, event: ev.MarginMode) -> None:
    _listed(state, event.market)
    size = _open_size(state, event.account, event.market)
    if size != 0:
        raise InvalidEvent(
            f"{event.account!r} has an open position of {to_str(size)} in {event.market}: the margin mode changes "
            "only while the account holds no position in the market"
        )
    left = state.account(event.account).isolated.get(event.market, ZERO)
    if event.mode == ev.CROSS and left != 0:
        raise InvalidEvent(
            f"{event.account!r} still has {to_str(left)} of isolated margin in {event.market}: move it back "
            "(an isolated_margin event with a negative amount) before switching to cross"
        )


def _isolated_margin(state: LedgerState, event: ev.IsolatedMargin) -> None:
    _listed(state, event.market)
    acct = state.account(event.account)
    if not acct.is_isolated(event.market):
        raise InvalidEvent(
            f"{event.account!r} margins {event.market} cross: a margin_mode event making it isolated must come first"
        )
    if event.amount == 0:
        raise InvalidEvent("amount must not be zero")
    asset = state.markets[event.market].settle_asset
    if event.amount > 0:
        cash = acct.cash.get(asset, ZERO)
        if event.amount > cash:
            raise InvalidEvent(
                f"moving {to_str(event.amount)} {asset} into isolated margin exceeds the cross cash {to_str(cash)} "
                f"of {event.account!r}"
            )
        return
    margin, equity_after = acct.isolated[event.market], isolated_equity(state, acct, event.market) + event.amount
    if -event.amount > margin or equity_after < 0:
        raise InvalidEvent(
            f"moving {to_str(-event.amount)} {asset} out of the {event.market} isolated margin of {event.account!r} "
            f"(margin {to_str(margin)}) would leave it, or its isolated equity ({to_str(equity_after)}), below zero"
        )


def _rules_activated(state: LedgerState, event: ev.RulesActivated) -> None:
    """Version and params are checked by the rules registry in the service layer."""


def _loss_allocation_activated(state: LedgerState, event: ev.LossAllocationActivated) -> None:
    """Policy and params are checked by the loss-allocation registry in the service layer."""


_CHECKS: Mapping[type[ev.Event], Callable[[LedgerState, Any], None]] = {
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
}


def validate(state: LedgerState, event: ev.Event) -> None:
    """Raise ``InvalidEvent`` if ``event`` cannot follow ``state``."""
    if state.last_at is not None and event.at < state.last_at:
        raise InvalidEvent(
            f"business time {format_time(event.at)} goes backwards: the ledger is already at "
            f"{format_time(state.last_at)} (event {state.last_event_id})"
        )
    check = _CHECKS.get(type(event))
    if check is None:
        raise InvalidEvent(f"{event.TYPE} events cannot be ingested")
    check(state, event)
