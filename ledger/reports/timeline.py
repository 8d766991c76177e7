"""Per-account time series for charts: equity, maintenance margin and the liquidation target over time.

Sampled at every event that touches the account (its own events and the marks
and funding payments of markets it holds), with maintenance margin under the
rules then in force. Equity and maintenance are the account's totals: its
cross scope plus each isolated position (margin plus unrealized PnL, and its
own maintenance).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal

from attrs import define, field

from ledger.domain import events as ev
from ledger.domain.money import ZERO, arithmetic
from ledger.domain.postings import Posting
from ledger.domain.state import LedgerState
from ledger.engine.liquidation import account_view, isolated_view, version_in_force
from ledger.replay.runner import Observer, project
from ledger.store import LogReader, StoredEvent
from rules.base import equity

__all__ = ["Series", "account_series"]


@define
class Series:
    account: str
    times: list[str] = field(factory=list)
    equity: list[Decimal] = field(factory=list)
    maintenance: list[Decimal] = field(factory=list)
    target: list[Decimal] = field(factory=list)
    """what a partial liquidation restores equity to, under the rules then in force (the version's own target)"""
    liquidations: list[tuple[str, Decimal, str]] = field(factory=list)
    """(time, equity before, description) of each liquidation."""


def _sample(state: LedgerState, series: Series, at: str) -> None:
    acct = state.account(series.account)
    assets = sorted({state.markets[m].settle_asset for m in acct.positions} | set(acct.cash))
    asset = assets[0] if assets else "USD"
    views = [account_view(state, series.account, asset)]  # the cross scope, then each isolated position (its margin)
    views += [isolated_view(state, series.account, market) for market in sorted(acct.isolated)
              if state.markets[market].settle_asset == asset]
    with arithmetic():
        series.times.append(at)
        series.equity.append(sum((equity(view) for view in views), ZERO))
        if state.rules is None:
            series.maintenance.append(ZERO)
            series.target.append(ZERO)
        else:
            version, params = version_in_force(state.rules)
            series.maintenance.append(sum((version.maintenance(view, params) for view in views), ZERO))
            series.target.append(sum((version.target(view, params) for view in views), ZERO))


class _Sampler(Observer):
    """Samples each wanted account after its own events and after marks and funding of markets it holds."""

    def __init__(self, wanted: dict[str, Series]) -> None:
        self.wanted = wanted

    def after(self, state: LedgerState, row: StoredEvent, event: ev.Event, postings: list[Posting]) -> None:
        owner = getattr(event, "account", None)
        if owner in self.wanted:
            if isinstance(event, ev.Liquidation):
                self.wanted[owner].liquidations.append((row.at, event.equity_before, f"{event.side} {event.qty} {event.market}"))
            _sample(state, self.wanted[owner], row.at)
        elif isinstance(event, (ev.Mark, ev.Funding)):
            for name in state.accounts_in_market(event.market):
                if name in self.wanted:
                    _sample(state, self.wanted[name], row.at)


def account_series(
    store: LogReader, accounts: Iterable[str], progress: Callable[[int], None] | None = None
) -> dict[str, Series]:
    wanted = {name: Series(name) for name in accounts}
    project(store, observers=[_Sampler(wanted)], progress=progress)
    return wanted
