"""The margin model: cross margin within one settle asset.

    notional      = |size| × mark
    maintenance   MM = Σ notional × maintenance_margin_rate   (per market)
    initial       IM = Σ notional × initial_margin_rate
    equity        E  = settle cash + Σ size × (mark − entry)

An account is distressed when it has open positions and E < MM.
"""

from __future__ import annotations

from decimal import Decimal

from ledger.domain.money import ZERO
from rules.base import AccountView, Params, PositionView, equity

__all__ = ["notional", "position_maintenance", "maintenance", "initial", "equity", "is_distressed"]


def notional(position: PositionView) -> Decimal:
    return abs(position.size) * position.mark


def position_maintenance(position: PositionView, params: Params) -> Decimal:
    return notional(position) * params.markets[position.market].maintenance_margin_rate


def maintenance(account: AccountView, params: Params) -> Decimal:
    return sum((position_maintenance(p, params) for p in account.positions), ZERO)


def initial(account: AccountView, params: Params) -> Decimal:
    return sum((notional(p) * params.markets[p.market].initial_margin_rate for p in account.positions), ZERO)


def is_distressed(account: AccountView, params: Params) -> bool:
    open_positions = [p for p in account.positions if p.size != 0]
    return bool(open_positions) and equity(account) < maintenance(account, params)
