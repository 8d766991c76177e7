"""The liquidation engine: after a mark, ask the rule in force, record its decisions.

Runs only when a mark is *appended* (never during replay, which folds the
recorded decisions). For every account exposed to the marked market, the
account is viewed in that market's settle asset; if it is distressed by the
version's own test, the rule version in force (looked up in the registry by
name; it owns its margin model) decides, and each close
and any bankruptcy becomes an event, applied to the state at once so the next
account sees the insurance fund as it now is. Accounts go in name order and
event ids derive from the mark's id, so the same log always yields the same
liquidations.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from ledger.domain import events as ev
from ledger.domain.fold import apply
from ledger.domain.money import ZERO, arithmetic, to_str
from ledger.domain.state import INSURANCE_FUND, LedgerState, RulesInForce
from rules import registry
from rules.base import AccountView, Decision, DecisionContext, PositionView, RuleVersion

__all__ = [
    "Substitute", "account_view", "params_in_force", "version_in_force", "decide_for_account", "on_mark", "decision_events",
]

Substitute = Callable[[RulesInForce], RulesInForce]
"""What-if hook: given the rules really in force, the rules to decide with instead."""


@lru_cache(maxsize=256)
def _parsed(version: str, params_json: str) -> Any:
    return registry.get(version).parse_params(json.loads(params_json))


def params_in_force(rules: RulesInForce) -> Any:
    """Parsed params of an activation (the version's own typed params), cached by content
    (version and canonical params), never by event id: two ledgers may use one id for different things."""
    return _parsed(rules.version, rules.params_json)


def version_in_force(rules: RulesInForce) -> tuple[RuleVersion, Any]:
    """The registered version an activation names, and its parsed params: all the ledger asks of the rules."""
    return registry.get(rules.version), params_in_force(rules)


def account_view(state: LedgerState, account: str, settle_asset: str) -> AccountView:
    """The account as a rule sees it: cash and open positions in one settle asset."""
    acct = state.account(account)
    positions = []
    for market in acct.open_markets():
        info = state.markets[market]
        if info.settle_asset != settle_asset:
            continue
        position = acct.positions[market]
        positions.append(PositionView(market, position.size, position.entry_price, info.price, info.lot_size))
    return AccountView(account, settle_asset, acct.cash.get(settle_asset, ZERO), tuple(positions))


def decide_for_account(
    state: LedgerState, account: str, settle_asset: str, rules: RulesInForce, at: datetime
) -> Decision | None:
    """The decision of ``rules`` for one account at business time ``at``, or None when it is not distressed."""
    version, params = version_in_force(rules)
    view = account_view(state, account, settle_asset)
    with arithmetic():
        if not version.is_distressed(view, params):
            return None
    fund = state.system[INSURANCE_FUND].get(settle_asset, ZERO)
    last_partial = state.last_partial_close(account, rules.version, at)
    return version.decide(view, params, DecisionContext(at, fund, last_partial))


def decision_events(mark: ev.Mark, account: str, settle_asset: str, version: str, decision: Decision) -> list[ev.Event]:
    out: list[ev.Event] = []
    for close in decision.closes:
        out.append(  # noqa: PERF401 (one event per close, spelled out field by field)
            ev.Liquidation(
                id=f"{mark.id}{ev.LIQUIDATION_ID_MARK}{account}/{close.market}",
                at=mark.at,
                account=account,
                market=close.market,
                side=close.side,
                qty=close.qty,
                price=close.price,
                penalty=close.penalty,
                rule_version=version,
                trigger=mark.id,
                reason=close.reason,
                equity_before=close.equity_before,
                maintenance_before=close.maintenance_before,
                target_before=close.target_before,
                equity_after=close.equity_after,
                maintenance_after=close.maintenance_after,
                target_after=close.target_after,
                required_qty="none" if close.required_qty is None else to_str(close.required_qty),
            )
        )
    if decision.bankruptcy is not None:
        b = decision.bankruptcy
        out.append(
            ev.Bankruptcy(
                id=f"{mark.id}{ev.BANKRUPTCY_ID_MARK}{account}/{settle_asset}",
                at=mark.at,
                account=account,
                asset=settle_asset,
                deficit=b.deficit,
                fund_before=b.fund_before,
                insurance_covered=b.insurance_covered,
                socialized_loss=b.socialized_loss,
                rule_version=version,
                trigger=mark.id,
            )
        )
    return out


def on_mark(
    state: LedgerState, mark: ev.Mark, substitute: Substitute | None = None, accounts: Sequence[str] | None = None
) -> list[ev.Event]:
    """Liquidation events for ``mark`` (already applied to ``state``), applied as made.

    The rules in force decide; ``substitute`` swaps in others (what-if). Before
    any activation nothing is liquidated. ``accounts`` (sorted by name) limits
    the check to candidates from the liquidation index, which always include
    every account the mark distresses; by default every exposed account is
    checked.
    """
    if state.rules is None:
        return []
    rules = substitute(state.rules) if substitute else state.rules
    settle = state.markets[mark.market].settle_asset
    made: list[ev.Event] = []
    for account in state.accounts_in_market(mark.market) if accounts is None else accounts:
        decision = decide_for_account(state, account, settle, rules, mark.at)
        if decision is None:
            continue
        for event in decision_events(mark, account, settle, rules.version, decision):
            apply(state, event)
            made.append(event)
    return made
