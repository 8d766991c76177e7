"""What a rule sees and what it decides.

A rule sees one account in one settle asset (``AccountView``): its cash and its
open positions, each valued at the current mark with its market's margin
rates. It returns a ``Decision``: closing fills (``Close``) in order, each
carrying the figures that justify it, and possibly a ``Bankruptcy`` when
equity stays negative with every position closed.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol

from attrs import field, frozen

__all__ = ["PositionView", "AccountView", "Close", "Bankruptcy", "Decision", "RuleVersion", "MarketRates", "Params"]


@frozen
class MarketRates:
    maintenance_margin_rate: Decimal
    initial_margin_rate: Decimal


@frozen
class Params:
    """Validated parameters of a rule version (``extra`` holds version-specific keys)."""

    liquidation_fee_rate: Decimal
    target_buffer: Decimal
    markets: Mapping[str, MarketRates]
    extra: Mapping[str, Any] = field(factory=dict)


@frozen
class PositionView:
    market: str
    size: Decimal
    entry_price: Decimal
    mark: Decimal
    lot_size: Decimal


@frozen
class AccountView:
    account: str
    settle_asset: str
    cash: Decimal
    positions: tuple[PositionView, ...]


@frozen
class Close:
    """Close ``qty`` of ``market`` with a ``side`` fill at ``price``, paying ``penalty``."""

    market: str
    side: str
    qty: Decimal
    price: Decimal
    penalty: Decimal
    reason: str
    equity_before: Decimal
    maintenance_before: Decimal
    target_before: Decimal
    equity_after: Decimal
    maintenance_after: Decimal
    target_after: Decimal
    required_qty: Decimal | None


@frozen
class Bankruptcy:
    deficit: Decimal
    fund_before: Decimal
    insurance_covered: Decimal
    socialized_loss: Decimal


@frozen
class Decision:
    closes: tuple[Close, ...] = ()
    bankruptcy: Bankruptcy | None = None


class RuleVersion(Protocol):
    """The shape every registered version has."""

    name: str
    summary: str

    def parse_params(self, raw: Mapping[str, Any]) -> Params: ...

    def decide(self, account: AccountView, params: Params, insurance_fund: Decimal) -> Decision: ...
