"""Valuing accounts at the current prices: unrealized PnL, equity, notional.

Equity is per settle asset. An account's *cross* equity in an asset is its
cross cash in it plus the unrealized PnL of its cross positions in markets
settling in it; an *isolated* position's equity is its isolated margin plus
its own unrealized PnL. The account's equity (what balances print as
``equity``) is the total: cross equity plus every isolated equity.
"""

from __future__ import annotations

from decimal import Decimal

from ledger.domain.money import ZERO
from ledger.domain.positions import unrealized_pnl
from ledger.domain.state import AccountState, LedgerState, Position

__all__ = [
    "position_unrealized", "equity", "cross_equity", "isolated_equity", "equity_by_asset", "cross_equity_by_asset",
    "settle_assets_of",
]


def position_unrealized(state: LedgerState, account: AccountState, market: str) -> Decimal:
    return unrealized_pnl(account.positions[market], state.markets[market].price)


def cross_equity(state: LedgerState, account: AccountState, settle_asset: str) -> Decimal:
    """Cross cash in ``settle_asset`` plus unrealized PnL of the cross positions settling in it."""
    total = account.cash.get(settle_asset, ZERO)
    for market, position in account.positions.items():
        if position.size != 0 and market not in account.isolated and state.markets[market].settle_asset == settle_asset:
            total += unrealized_pnl(position, state.markets[market].price)
    return total


def isolated_equity(state: LedgerState, account: AccountState, market: str) -> Decimal:
    """The isolated margin of ``market`` plus its position's unrealized PnL."""
    position = account.positions.get(market) or Position()
    return account.isolated[market] + unrealized_pnl(position, state.markets[market].price)


def equity(state: LedgerState, account: AccountState, settle_asset: str) -> Decimal:
    """The account's total equity in ``settle_asset``: cross equity plus every isolated equity settling in it."""
    total = cross_equity(state, account, settle_asset)
    for market in account.isolated:
        if state.markets[market].settle_asset == settle_asset:
            total += isolated_equity(state, account, market)
    return total


def settle_assets_of(state: LedgerState, account: AccountState) -> list[str]:
    """Settle assets the account holds cash in or trades, sorted."""
    listed = {m.settle_asset for m in state.markets.values()}
    assets = {a for a in account.cash if a in listed}
    assets |= {state.markets[m].settle_asset for m in account.positions}
    assets |= {state.markets[m].settle_asset for m in account.isolated}
    return sorted(assets)


def equity_by_asset(state: LedgerState, account: AccountState) -> dict[str, Decimal]:
    return {asset: equity(state, account, asset) for asset in settle_assets_of(state, account)}


def cross_equity_by_asset(state: LedgerState, account: AccountState) -> dict[str, Decimal]:
    return {asset: cross_equity(state, account, asset) for asset in settle_assets_of(state, account)}
