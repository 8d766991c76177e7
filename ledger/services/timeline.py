"""Per-account time series for charts: equity and maintenance margin over time.

Sampled at every event that touches the account (its own events and the marks
of markets it holds), with maintenance margin under the rules then in force.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Callable, Iterable

from attrs import define, field

from ledger.domain import events as ev
from ledger.domain.fold import apply
from ledger.domain.money import ZERO, arithmetic
from ledger.domain.state import LedgerState
from ledger.services.liquidation_engine import account_view, params_in_force
from ledger.store import EventStore
from rules import margin

__all__ = ["Series", "account_series"]


@define
class Series:
    account: str
    times: list[str] = field(factory=list)
    equity: list[Decimal] = field(factory=list)
    maintenance: list[Decimal] = field(factory=list)
    liquidations: list[tuple[str, Decimal, str]] = field(factory=list)
    """(time, equity before, description) of each liquidation."""


def _sample(state: LedgerState, series: Series, at: str) -> None:
    acct = state.account(series.account)
    assets = sorted({state.markets[m].settle_asset for m in acct.positions} | set(acct.cash))
    asset = assets[0] if assets else "USD"
    view = account_view(state, series.account, asset)
    with arithmetic():
        series.times.append(at)
        series.equity.append(margin.equity(view))
        series.maintenance.append(margin.maintenance(view, params_in_force(state.rules)) if state.rules else ZERO)


def account_series(
    store: EventStore, accounts: Iterable[str], progress: Callable[[int], None] | None = None
) -> dict[str, Series]:
    wanted = {name: Series(name) for name in accounts}
    state = LedgerState()
    for row in store.read():
        event = row.event()
        apply(state, event, row.seq)
        if progress:
            progress(1)
        owner = getattr(event, "account", None)
        if owner in wanted:
            if isinstance(event, ev.Liquidation):
                wanted[owner].liquidations.append((row.at, event.equity_before, f"{event.side} {event.qty} {event.market}"))
            _sample(state, wanted[owner], row.at)
        elif isinstance(event, ev.Mark):
            for name in state.accounts_in_market(event.market):
                if name in wanted:
                    _sample(state, wanted[name], row.at)
    return wanted
