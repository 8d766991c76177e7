"""A margin scope as a rule sees it: the cross account in one settle asset, or one isolated position alone.

Rules decide on views, never on the ledger's state: the liquidation engine,
the index, the rule checks and loss allocation all build them here.
"""

from __future__ import annotations

from ledger.domain.money import ZERO
from ledger.domain.state import CROSS_SCOPE, LedgerState, Position
from rules.base import AccountView, PositionView

__all__ = ["account_view", "cross_views", "isolated_view", "scope_view"]


def account_view(state: LedgerState, account: str, settle_asset: str) -> AccountView:
    """The account's cross margin as a rule sees it: cross cash and open cross positions in one settle asset."""
    acct = state.account(account)
    positions = tuple(_position_view(state, acct.positions[market], market) for market in acct.cross_markets()
                      if state.markets[market].settle_asset == settle_asset)
    return AccountView(account, settle_asset, acct.cash.get(settle_asset, ZERO), positions)


def cross_views(state: LedgerState, account: str) -> list[AccountView]:
    """``account_view`` for every settle asset of the account's open cross positions, sorted by asset, built in one
    pass over them: the liquidation index asks for them at every fill, and one call per asset walked and sorted the
    positions again each time."""
    acct = state.account(account)
    by_asset: dict[str, list[PositionView]] = {}
    for market in acct.cross_markets():
        by_asset.setdefault(state.markets[market].settle_asset, []).append(
            _position_view(state, acct.positions[market], market))
    return [AccountView(account, asset, acct.cash.get(asset, ZERO), tuple(by_asset[asset])) for asset in sorted(by_asset)]


def isolated_view(state: LedgerState, account: str, market: str) -> AccountView:
    """One isolated position as a rule sees it: a one-position account whose cash is the isolated margin."""
    acct = state.account(account)
    info = state.markets[market]
    position = acct.positions.get(market)
    positions: tuple[PositionView, ...] = ()
    if position is not None and position.size != 0:
        positions = (_position_view(state, position, market),)
    return AccountView(account, info.settle_asset, acct.isolated[market], positions)


def _position_view(state: LedgerState, position: Position, market: str) -> PositionView:
    """An open position as a rule sees it, marked at its market's price."""
    info = state.markets[market]
    assert info.price is not None, "a market with a position has a price (its fills set one)"
    return PositionView(market, position.size, position.entry_price, info.price, info.lot_size)


def scope_view(state: LedgerState, account: str, scope: str, settle_asset: str) -> AccountView:
    """The view of one margin scope: the cross account in ``settle_asset``, or the isolated position ``scope``."""
    return account_view(state, account, settle_asset) if scope == CROSS_SCOPE else isolated_view(state, account, scope)
