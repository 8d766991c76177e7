"""The margin model: cross margin within one settle asset.

    notional      = |size| × mark
    maintenance   MM = Σ notional × maintenance_margin_rate   (per market)
    initial       IM = Σ notional × initial_margin_rate
    equity        E  = settle cash + Σ size × (mark − entry)

An account is distressed when it has open positions and E < MM.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from ledger.domain.money import EXACT_METHODS, ZERO
from rules.base import AccountView, Params, PositionView, ScopePosition, equity

__all__ = ["notional", "position_maintenance", "maintenance", "initial", "equity", "scope_buffer", "is_distressed"]


def notional(position: PositionView) -> Decimal:
    return abs(position.size) * position.mark


def position_maintenance(position: PositionView, params: Params) -> Decimal:
    return notional(position) * params.markets[position.market].maintenance_margin_rate


def maintenance(account: AccountView, params: Params) -> Decimal:
    return sum((position_maintenance(p, params) for p in account.positions), ZERO)


def initial(account: AccountView, params: Params) -> Decimal:
    return sum((notional(p) * params.markets[p.market].initial_margin_rate for p in account.positions), ZERO)


def scope_buffer(cash: Decimal, positions: Iterable[ScopePosition], params: Params) -> Decimal:
    """E − MM in one pass over the positions, for the liquidation index, which asks at most fills of every
    account: the very steps of ``equity(account) - maintenance(account, params)`` (the two sums kept side by side,
    each from ``ZERO``, then cash + Σ pnl − Σ MM), each in the ledger's exact context's own methods (an inexact one
    raises, as it would there): the same figure, down to its exponent, and the same refusals, whatever context the
    caller runs in, without entering one (a context entered per re-index was 3% of an ingest)."""
    rates = params.markets
    add, subtract, multiply = EXACT_METHODS.add, EXACT_METHODS.subtract, EXACT_METHODS.multiply
    pnl = mm = ZERO
    for market, size, entry_price, mark in positions:
        pnl = add(pnl, multiply(size, subtract(mark, entry_price)))
        mm = add(mm, multiply(multiply(size.copy_abs(), mark), rates[market].maintenance_margin_rate))
    return subtract(add(cash, pnl), mm)


def is_distressed(account: AccountView, params: Params) -> bool:
    open_positions = [p for p in account.positions if p.size != 0]
    return bool(open_positions) and equity(account) < maintenance(account, params)
