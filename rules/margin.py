"""The margin model: cross margin within one settle asset.

    notional      = |size| × mark
    maintenance   MM = Σ notional × maintenance_margin_rate   (per market)
    initial       IM = Σ notional × initial_margin_rate
    equity        E  = settle cash + Σ size × (mark − entry)

An account is distressed when it has open positions and E < MM.
"""

from __future__ import annotations

from decimal import Decimal

from ledger.domain.money import CONTEXT, ZERO
from rules.base import AccountView, Params, PositionView, equity

__all__ = ["notional", "position_maintenance", "maintenance", "initial", "equity", "buffer", "is_distressed"]

_EXACT = CONTEXT.copy()
"""The ledger's exact context (120 digits, an inexact step raises), this module's own copy: ``buffer`` computes in it
without entering it."""


def notional(position: PositionView) -> Decimal:
    return abs(position.size) * position.mark


def position_maintenance(position: PositionView, params: Params) -> Decimal:
    return notional(position) * params.markets[position.market].maintenance_margin_rate


def maintenance(account: AccountView, params: Params) -> Decimal:
    return sum((position_maintenance(p, params) for p in account.positions), ZERO)


def initial(account: AccountView, params: Params) -> Decimal:
    return sum((notional(p) * params.markets[p.market].initial_margin_rate for p in account.positions), ZERO)


def buffer(account: AccountView, params: Params) -> Decimal:
    """E − MM in one pass over the positions, for the liquidation index, which asks at nearly every fill of every
    account. The same terms as ``equity(account) - maintenance(account, params)`` summed in another order, each step
    in the ledger's exact context (an inexact one raises): the same figure, down to its exponent, whatever context the
    caller runs in, and without entering one (a context entered per re-index was 3% of an ingest)."""
    rates = params.markets
    add, subtract, multiply = _EXACT.add, _EXACT.subtract, _EXACT.multiply
    total = add(account.cash, ZERO)
    for p in account.positions:
        size, mark = p.size, p.mark
        pnl = multiply(size, subtract(mark, p.entry_price))
        total = add(total, subtract(pnl, multiply(multiply(size.copy_abs(), mark), rates[p.market].maintenance_margin_rate)))
    return total


def is_distressed(account: AccountView, params: Params) -> bool:
    open_positions = [p for p in account.positions if p.size != 0]
    return bool(open_positions) and equity(account) < maintenance(account, params)
