"""Given-helpers: readable constructors for events in tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ledger import Deposit, Funding, IsolatedMargin, MarginMode, Mark, MarketListed, RulesActivated, Trade, Withdrawal
from tests.conftest import at

RATES = {
    "BTC-PERP": {"maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"},
    "ETH-PERP": {"maintenance_margin_rate": "0.01", "initial_margin_rate": "0.02"},
}


def listed(market: str = "BTC-PERP", lot: str = "0.001", settle: str = "USD", t: float = 0, id: str | None = None):
    return MarketListed(id=id or f"m-{market}", at=at(t), market=market, settle_asset=settle, lot_size=Decimal(lot))


def deposit(account: str, amount: str, t: float = 1, id: str | None = None, asset: str = "USD"):
    return Deposit(id=id or f"d-{account}-{t}", at=at(t), account=account, asset=asset, amount=Decimal(amount))


def withdrawal(account: str, amount: str, t: float = 1, id: str | None = None, asset: str = "USD"):
    return Withdrawal(id=id or f"w-{account}-{t}", at=at(t), account=account, asset=asset, amount=Decimal(amount))


def trade(account: str, side: str, qty: str, price: str, market: str = "BTC-PERP", fee: str = "0", t: float = 2, id: str | None = None):
    return Trade(
        id=id or f"t-{account}-{t}-{market}",
        at=at(t),
        account=account,
        market=market,
        side=side,
        qty=Decimal(qty),
        price=Decimal(price),
        fee=Decimal(fee),
    )


def mark(price: str, market: str = "BTC-PERP", t: float = 3, id: str | None = None):
    return Mark(id=id or f"k-{market}-{t}", at=at(t), market=market, price=Decimal(price))


def funding(rate: str, market: str = "BTC-PERP", t: float = 4, id: str | None = None):
    return Funding(id=id or f"f-{market}-{t}", at=at(t), market=market, rate=Decimal(rate))


def margin_mode(account: str, mode: str = "isolated", market: str = "BTC-PERP", t: float = 1.5, id: str | None = None):
    return MarginMode(id=id or f"mm-{account}-{market}-{t}", at=at(t), account=account, market=market, mode=mode)


def isolated_margin(account: str, amount: str, market: str = "BTC-PERP", t: float = 1.6, id: str | None = None):
    return IsolatedMargin(id=id or f"im-{account}-{market}-{t}", at=at(t), account=account, market=market,
                          amount=Decimal(amount))


def rules(version: str = "partial-v1", fee: str = "0.002", buffer: str | None = "0.25", t: float = 0.5,
          id: str = "r-1", markets: dict[str, Any] | None = None, **extra: Any):
    params: dict[str, Any] = {"liquidation_fee_rate": fee, "markets": markets or RATES, **extra}
    if buffer is not None:
        params["target_buffer"] = buffer
    return RulesActivated(id=id, at=at(t), version=version, params=params)


TIERS = {
    "BTC-PERP": {"tiers": [
        {"max_notional": "20000", "maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"},
        {"max_notional": "100000", "maintenance_margin_rate": "0.01", "initial_margin_rate": "0.02"},
        {"maintenance_margin_rate": "0.025", "initial_margin_rate": "0.05"},
    ]},
    "ETH-PERP": {"tiers": [
        {"max_notional": "10000", "maintenance_margin_rate": "0.01", "initial_margin_rate": "0.02"},
        {"maintenance_margin_rate": "0.02", "initial_margin_rate": "0.04"},
    ]},
}
"""tiered-v1 brackets for the two test markets (rates and edges chosen so generated fills cross them)."""


def tiered(fee: str = "0.002", buffer: str = "0.25", t: float = 0.5, id: str = "r-1", markets: dict[str, Any] | None = None):
    """A tiered-v1 activation (``TIERS`` unless ``markets`` is given)."""
    return rules(version="tiered-v1", fee=fee, buffer=buffer, t=t, id=id, markets=markets or TIERS)


def stepped(fee: str = "0.001", threshold: str = "100000", fraction: str = "0.2", cooldown: str = "30",
            backstop: str = "0.6667", t: float = 0.5, id: str = "r-1", markets: dict[str, Any] | None = None):
    """A stepped-v1 activation (flat ``RATES`` unless ``markets`` is given)."""
    return rules(version="stepped-v1", fee=fee, buffer=None, t=t, id=id, markets=markets,
                 partial_threshold_notional=threshold, step_fraction=fraction, cooldown_seconds=cooldown,
                 backstop_ratio=backstop)


def two_markets():
    return [listed("BTC-PERP", "0.001"), listed("ETH-PERP", "0.01")]


def loss_allocation(version: str = "adl-ranked-v1", t: float = 0.8, id: str = "la-1", **params: str):
    """A loss-allocation activation (``cash_quantum`` defaults to 0.00000001 for the ADL policies)."""
    from ledger.domain.events import LossAllocationActivated

    if version != "socialize-v1":
        params.setdefault("cash_quantum", "0.00000001")
    return LossAllocationActivated(id=id, at=at(t), version=version, params=params)
