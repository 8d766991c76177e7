"""What a replay produces: the ledger's state at one point of the log.

Values are frozen (``Position``, ``MarketState``, ``AccountState``,
``RulesInForce``); ``LedgerState`` is the container the fold owns and updates
by swapping in new values, so a replay of a million events does not copy every
account on every event. Nothing here is stored as truth: a ``LedgerState`` is
always the result of folding the log (optionally starting from a snapshot,
which is itself a cached fold).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from attrs import define, field, frozen

from ledger.domain.codec import canonical_json
from ledger.domain.events import thaw
from ledger.domain.money import ZERO

__all__ = [
    "Position",
    "MarketState",
    "AccountState",
    "RulesInForce",
    "LedgerState",
    "SYSTEM_ACCOUNTS",
    "EXTERNAL",
    "FEES",
    "CLEARING",
    "LIQUIDATION",
    "INSURANCE_FUND",
    "SOCIALIZED_LOSS",
    "clone",
]

EXTERNAL = "external"
"""Counterparty of deposits and withdrawals: the world outside the venue."""
FEES = "fees"
"""Trading fees collected (rebates paid out of it)."""
CLEARING = "clearing"
"""Counterparty of trade PnL: what winners gain, losers' trades pay in."""
LIQUIDATION = "liquidation"
"""Counterparty of the engine's closing fills at the mark."""
INSURANCE_FUND = "insurance_fund"
"""Receives liquidation penalties, covers bankrupt accounts' deficits."""
SOCIALIZED_LOSS = "socialized_loss"
"""Deficits the insurance fund could not cover, recorded honestly."""

SYSTEM_ACCOUNTS = (EXTERNAL, FEES, CLEARING, LIQUIDATION, INSURANCE_FUND, SOCIALIZED_LOSS)


@frozen
class Position:
    """A signed position in one market: long > 0, short < 0."""

    size: Decimal = ZERO
    entry_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO


@frozen
class MarketState:
    """A listed market and the last prices seen on it."""

    market: str
    settle_asset: str
    lot_size: Decimal
    listed_by: str
    mark_price: Decimal | None = None
    last_trade_price: Decimal | None = None

    @property
    def price(self) -> Decimal | None:
        """The valuation price: the last mark, or before any mark the last trade."""
        return self.mark_price if self.mark_price is not None else self.last_trade_price


@frozen
class AccountState:
    """One trading account: cash per asset, positions per market, fees paid."""

    name: str
    cash: Mapping[str, Decimal] = field(factory=lambda: MappingProxyType({}))
    positions: Mapping[str, Position] = field(factory=lambda: MappingProxyType({}))
    fees_paid: Mapping[str, Decimal] = field(factory=lambda: MappingProxyType({}))

    def with_cash_deltas(self, deltas: Mapping[str, Decimal]) -> AccountState:
        cash = dict(self.cash)
        for asset, delta in deltas.items():
            cash[asset] = cash.get(asset, ZERO) + delta
        return AccountState(self.name, MappingProxyType(cash), self.positions, self.fees_paid)

    def with_position(self, market: str, position: Position) -> AccountState:
        positions = dict(self.positions)
        positions[market] = position
        return AccountState(self.name, self.cash, MappingProxyType(positions), self.fees_paid)

    def with_fee(self, asset: str, fee: Decimal) -> AccountState:
        fees = dict(self.fees_paid)
        fees[asset] = fees.get(asset, ZERO) + fee
        return AccountState(self.name, self.cash, self.positions, MappingProxyType(fees))

    def open_markets(self) -> list[str]:
        return sorted(m for m, p in self.positions.items() if p.size != 0)


@frozen
class RulesInForce:
    """Which rule version and parameters an activation put in force, and when."""

    version: str
    params: Mapping[str, Any]
    event_id: str
    at: datetime
    params_json: str = field(init=False, eq=False, repr=False)
    """Canonical JSON of ``params``: a cheap, content-based key for parsed-params caches."""

    @params_json.default
    def _params_json(self) -> str:
        return canonical_json(thaw(self.params))


@define
class LedgerState:
    """The fold's result: every account, market and system balance at ``seq``."""

    accounts: dict[str, AccountState] = field(factory=dict)
    markets: dict[str, MarketState] = field(factory=dict)
    system: dict[str, dict[str, Decimal]] = field(factory=lambda: {name: {} for name in SYSTEM_ACCOUNTS})
    rules: RulesInForce | None = None
    rules_history: list[RulesInForce] = field(factory=list)
    seq: int = 0
    last_at: datetime | None = None
    last_event_id: str | None = None
    events_applied: int = 0
    partial_closes: dict[tuple[str, str], tuple[datetime, datetime | None]] = field(factory=dict)
    """(account, rule version) -> the business times of its two latest distinct partial closes (latest, one before).

    What earlier decisions of a version recorded, for the version's next
    decision (a cooldown after a partial close): folded from the stored
    liquidation events, like everything else here.
    """

    def account(self, name: str) -> AccountState:
        return self.accounts.get(name) or AccountState(name)

    def last_partial_close(self, account: str, version: str, before: datetime) -> datetime | None:
        """When ``version`` last closed part (not all) of a position of ``account``, strictly before ``before``."""
        times = self.partial_closes.get((account, version))
        if times is None:
            return None
        latest, previous = times
        return latest if latest < before else previous

    def record_partial_close(self, account: str, version: str, at: datetime) -> None:
        latest, _ = self.partial_closes.get((account, version), (None, None))
        if latest != at:  # business time never goes back: a new latest, the old one kept as the one before
            self.partial_closes[account, version] = (at, latest)

    def accounts_in_market(self, market: str) -> list[str]:
        """Accounts with a non-zero position in ``market``, sorted by name."""
        return sorted(
            name for name, acct in self.accounts.items() if acct.positions.get(market, Position()).size != 0
        )


def clone(state: LedgerState) -> LedgerState:
    """An independent copy to fold on (values are immutable, so containers suffice)."""
    return LedgerState(
        accounts=dict(state.accounts),
        markets=dict(state.markets),
        system={name: dict(balances) for name, balances in state.system.items()},
        rules=state.rules,
        rules_history=list(state.rules_history),
        seq=state.seq,
        last_at=state.last_at,
        last_event_id=state.last_event_id,
        events_applied=state.events_applied,
        partial_closes=dict(state.partial_closes),
    )
