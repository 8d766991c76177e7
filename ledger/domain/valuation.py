"""Valuing accounts at the current prices: unrealized PnL, equity, notional.

Equity is per settle asset (cross margin within one settle asset): the
account's cash in that asset plus the unrealized PnL of every position in
markets settling in it.
"""

from __future__ import annotations

from decimal import Decimal

from ledger.domain.money import ZERO
from ledger.domain.positions import unrealized_pnl
from ledger.domain.state import AccountState, LedgerState

__all__ = ["position_unrealized", "equity", "equity_by_asset", "settle_assets_of"]


def position_unrealized(state: LedgerState, account: AccountState, market: str) -> Decimal:
    return unrealized_pnl(account.positions[market], state.markets[market].price)


def equity(state: LedgerState, account: AccountState, settle_asset: str) -> Decimal:
    """Cash in ``settle_asset`` plus unrealized PnL of positions settling in it."""
    total = account.cash.get(settle_asset, ZERO)
    for market, position in account.positions.items():
        if position.size != 0 and state.markets[market].settle_asset == settle_asset:
            total += unrealized_pnl(position, state.markets[market].price)
    return total


def settle_assets_of(state: LedgerState, account: AccountState) -> list[str]:
    """Settle assets the account holds cash in or trades, sorted."""
    listed = {m.settle_asset for m in state.markets.values()}
    assets = {a for a in account.cash if a in listed}
    assets |= {state.markets[m].settle_asset for m in account.positions}
    return sorted(assets)


def equity_by_asset(state: LedgerState, account: AccountState) -> dict[str, Decimal]:
    return {asset: equity(state, account, asset) for asset in settle_assets_of(state, account)}
