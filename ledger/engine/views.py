"""A margin scope as a rule sees it: the cross account in one settle asset, or one isolated position alone.

Rules decide on views, never on the ledger's state: the liquidation engine,
the index, the rule checks and loss allocation all build them here.
"""

from __future__ import annotations

from decimal import Decimal

from ledger.domain.money import ZERO
from ledger.domain.state import CROSS_SCOPE, LedgerState, MarketState, Position
from rules.base import AccountView, PositionView, ScopePosition

__all__ = ["account_view", "isolated_view", "open_scopes", "scope_view", "scope_views", "Scope"]


def account_view(state: LedgerState, account: str, settle_asset: str) -> AccountView:
    """The account's cross margin as a rule sees it: cross cash and open cross positions in one settle asset."""
    acct = state.account(account)
    positions = tuple(_position_view(acct.positions[market], info) for market in acct.cross_markets()
                      if (info := state.markets[market]).settle_asset == settle_asset)
    return AccountView(account, settle_asset, acct.cash.get(settle_asset, ZERO), positions)


Scope = tuple[str, Decimal, list[ScopePosition]]
"""A margin scope as ``open_scopes`` gives it: (settle asset, its cash or isolated margin, its open positions, each a
plain (market, size, entry price, mark))."""


def open_scopes(state: LedgerState, account: str) -> list[Scope]:
    """Every margin scope of the account that holds an open position, in one pass over its positions: the cross
    positions of each settle asset (by asset), then each isolated position alone (by market), as ``account_view``
    and ``isolated_view`` would give them. The liquidation index asks at most events (a fill re-indexes its
    account unless it took a position down and the triggers stand), and asking those one scope at a time walked
    and sorted the positions again for each. Each position is a plain tuple, as a version's ``scope_triggers``
    takes it (``rules.base.ScopeTriggers``): a view per position, and a ``Trigger`` per position turned back into
    a tuple, were about a quarter of the index's upkeep (``scope_views`` builds the views for a version without
    ``scope_triggers``)."""
    acct = state.account(account)
    positions, isolated, markets = acct.positions, acct.isolated, state.markets
    cross: list[ScopePosition] = []
    assets: list[str] = []  # each cross position's settle asset
    alone: list[Scope] = []
    for market in sorted(positions):
        position = positions[market]
        size = position.size
        if not size:  # a closed position (sizes are finite: zero is the one falsy size)
            continue
        info = markets[market]  # once per position: its price, then its asset
        price = info.price
        assert price is not None, "a market with a position has a price (its fills set one)"
        if market in isolated:
            alone.append((info.settle_asset, isolated[market], [(market, size, position.entry_price, price)]))
        else:
            cross.append((market, size, position.entry_price, price))
            assets.append(info.settle_asset)
    if not cross:
        return alone
    cash = acct.cash
    first = assets[0]
    if assets.count(first) == len(assets):  # the usual account: one settle asset
        scopes: list[Scope] = [(first, cash.get(first, ZERO), cross)]
    else:
        scopes = [(asset, cash.get(asset, ZERO), [p for p, a in zip(cross, assets, strict=True) if a == asset])
                  for asset in sorted(set(assets))]
    return scopes + alone if alone else scopes


def scope_views(state: LedgerState, positions: list[ScopePosition]) -> tuple[PositionView, ...]:
    """A scope's plain positions (``open_scopes``) as the views ``account_view`` would give them."""
    markets = state.markets
    return tuple(PositionView(market, size, entry, mark, markets[market].lot_size)
                 for market, size, entry, mark in positions)


def isolated_view(state: LedgerState, account: str, market: str) -> AccountView:
    """One isolated position as a rule sees it: a one-position account whose cash is the isolated margin."""
    acct = state.account(account)
    info = state.markets[market]
    position = acct.positions.get(market)
    positions: tuple[PositionView, ...] = ()
    if position is not None and position.size != 0:
        positions = (_position_view(position, info),)
    return AccountView(account, info.settle_asset, acct.isolated[market], positions)


def _position_view(position: Position, info: MarketState) -> PositionView:
    """An open position as a rule sees it, marked at its market's price (``info``: the caller has looked it up)."""
    price = info.price
    assert price is not None, "a market with a position has a price (its fills set one)"
    return PositionView(info.market, position.size, position.entry_price, price, info.lot_size)


def scope_view(state: LedgerState, account: str, scope: str, settle_asset: str) -> AccountView:
    """The view of one margin scope: the cross account in ``settle_asset``, or the isolated position ``scope``."""
    return account_view(state, account, settle_asset) if scope == CROSS_SCOPE else isolated_view(state, account, scope)
