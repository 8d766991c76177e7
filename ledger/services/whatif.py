"""``whatif``: real history replayed under another rule version, side by side.

Nothing is written. The stored events are folded as they happened
(*actual*), and, from ``start`` on, a copy of that state forks off in which
every ingested event is re-run through the append pipeline while the
liquidation engine decides with the substituted version (and parameters, when
given) wherever a rule was in force (*alternative*). Before ``start`` the two
worlds are one, folded once; the comparison covers ``start``..``end``. An
ingested event the alternative world refuses (say a withdrawal its
liquidations made impossible) is skipped there and reported.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable, Mapping

from attrs import define, field

from ledger.domain import events as ev
from ledger.domain.codec import format_time
from ledger.domain.events import freeze
from ledger.domain.fold import apply
from ledger.domain.money import ZERO, arithmetic, to_str
from ledger.domain.state import INSURANCE_FUND, LedgerState, RulesInForce, clone
from ledger.domain.valuation import equity_by_asset
from ledger.errors import InvalidBatch
from ledger.services.liquidation_index import LiquidationIndex
from ledger.services.pipeline import fold_batch
from ledger.store import EventStore
from rules import registry

__all__ = ["Outcome", "WhatIf", "whatif", "METRICS"]

METRICS = ("liquidations", "qty_liquidated", "notional_liquidated", "penalties", "bankruptcies",
           "insurance_fund_used", "socialized_loss", "insurance_fund_end")


@define
class Outcome:
    """What the engine did in one world, per settle asset and per account."""

    by_asset: dict[str, dict[str, Decimal]] = field(factory=lambda: defaultdict(lambda: defaultdict(lambda: ZERO)))
    by_account: dict[str, dict[str, Decimal]] = field(factory=lambda: defaultdict(lambda: defaultdict(lambda: ZERO)))
    versions: set[str] = field(factory=set)

    def record(self, state: LedgerState, event: ev.Event) -> None:
        self.versions.add(event.rule_version)
        if isinstance(event, ev.Liquidation):
            asset = state.markets[event.market].settle_asset
            figures = {"liquidations": Decimal(1), "qty_liquidated": event.qty,
                       "notional_liquidated": event.qty * event.price, "penalties": event.penalty}
        else:
            asset = event.asset
            figures = {"bankruptcies": Decimal(1), "insurance_fund_used": event.insurance_covered,
                       "socialized_loss": event.socialized_loss}
        for name, value in figures.items():
            self.by_asset[asset][name] += value
            self.by_account[event.account][name] += value


@define
class WhatIf:
    version: str
    window: dict[str, str | None]
    actual: Outcome
    alternative: Outcome
    actual_state: LedgerState
    alternative_state: LedgerState
    refused: list[dict[str, str]]

    def to_json(self) -> dict[str, Any]:
        assets = sorted(set(self.actual_state.system[INSURANCE_FUND]) | set(self.alternative_state.system[INSURANCE_FUND]))
        for outcome, state in ((self.actual, self.actual_state), (self.alternative, self.alternative_state)):
            for asset in assets:
                outcome.by_asset[asset]["insurance_fund_end"] = state.system[INSURANCE_FUND].get(asset, ZERO)
        summary = {
            asset: {
                metric: {
                    "actual": to_str(self.actual.by_asset[asset][metric]),
                    "alternative": to_str(self.alternative.by_asset[asset][metric]),
                    "difference": to_str(self.alternative.by_asset[asset][metric] - self.actual.by_asset[asset][metric]),
                }
                for metric in METRICS
            }
            for asset in assets
        }
        return {
            "alternative_version": self.version,
            "actual_versions": sorted(self.actual.versions),
            "window": self.window,
            "summary": summary,
            "accounts": self._accounts(),
            "refused_in_alternative": self.refused,
        }

    def _accounts(self) -> list[dict[str, str]]:
        names = sorted(set(self.actual.by_account) | set(self.alternative.by_account))
        rows = []
        with arithmetic():
            for name in names:
                actual_eq = equity_by_asset(self.actual_state, self.actual_state.account(name))
                alt_eq = equity_by_asset(self.alternative_state, self.alternative_state.account(name))
                a, b = self.actual.by_account[name], self.alternative.by_account[name]
                rows.append({
                    "account": name,
                    "liquidations": f"{to_str(a['liquidations'])} -> {to_str(b['liquidations'])}",
                    "notional_actual": to_str(a["notional_liquidated"]),
                    "notional_alternative": to_str(b["notional_liquidated"]),
                    "penalties_actual": to_str(a["penalties"]),
                    "penalties_alternative": to_str(b["penalties"]),
                    "bankrupt_actual": to_str(a["bankruptcies"]),
                    "bankrupt_alternative": to_str(b["bankruptcies"]),
                    "equity_actual": " ".join(f"{k} {to_str(v)}" for k, v in actual_eq.items()),
                    "equity_alternative": " ".join(f"{k} {to_str(v)}" for k, v in alt_eq.items()),
                })
        return rows


def whatif(
    store: EventStore,
    version: str,
    params: Mapping[str, Any] | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    indexed: bool = True,
) -> WhatIf:
    """Compare (see module docstring). ``indexed`` lets marks check only the
    candidates of a liquidation index built for the substituted rules; the
    outcome is the same as a full scan's."""
    rule = registry.get(version)
    frozen_params = freeze(params) if params is not None else None
    if params is not None:
        rule.parse_params(params)

    def substitute(rules: RulesInForce) -> RulesInForce:
        chosen = frozen_params if frozen_params is not None else rules.params
        return RulesInForce(version, chosen, f"whatif:{rules.event_id}", rules.at)

    actual = LedgerState()
    alternative: LedgerState | None = None  # forks from the actual world at the window's first event
    index = LiquidationIndex(substitute) if indexed else None  # built at the first mark it is asked about
    seen_actual, seen_alt = Outcome(), Outcome()
    refused: list[dict[str, str]] = []
    lower = format_time(start) if start else None
    for row in store.read(upto_at=format_time(end) if end else None):
        if progress:
            progress(1)
        event = row.event()
        if alternative is None and (lower is None or row.at >= lower):
            alternative = clone(actual)  # business time never goes back: the window, once entered, lasts
        apply(actual, event, row.seq)
        if alternative is None:
            pass  # before the window both worlds are the same one
        elif event.TYPE in ev.ENGINE_TYPES:
            seen_actual.record(actual, event)
        else:
            try:
                made = fold_batch(alternative, [(f"event {event.id}", event)], substitute=substitute,
                                  index=index).to_append[1:]
            except InvalidBatch as exc:
                refused.append({"event": event.id, "seq": str(row.seq), "reason": str(exc.errors[0])})
                continue
            for engine_event in made:
                seen_alt.record(alternative, engine_event)
    window = {"from": lower, "to": format_time(end) if end else None}
    if alternative is None:  # nothing fell in the window
        alternative = clone(actual)
    return WhatIf(version, window, seen_actual, seen_alt, actual, alternative, refused)
