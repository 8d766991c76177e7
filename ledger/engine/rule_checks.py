"""Checks on ingested events that need the rules registry.

The domain core validates what it can without knowing any rule; these checks
add what only the rules know: an activation must name a registered version
with parameters that version accepts, covering every listed market; while
rules are in force, a trade needs margin rates for its market, a
withdrawal must leave cross equity at or above cross initial margin, and
moving isolated margin must leave the scope it leaves at or above its initial
margin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ledger.domain import events as ev
from ledger.domain.events import thaw
from ledger.domain.money import arithmetic, to_str
from ledger.domain.state import LedgerState, RulesInForce
from ledger.engine.liquidation import account_view, isolated_view, version_in_force
from ledger.errors import InvalidEvent, InvalidRuleParams
from rules import registry
from rules.allocation import registry as allocation_registry
from rules.base import RuleVersion, equity
from rules.per_params import PerParams

__all__ = ["check", "no_margin_rates"]


def no_margin_rates(version: RuleVersion, params: Any, listed: Iterable[str]) -> str | None:
    """Why ``version`` with (parsed) ``params`` could not value a position in every market of ``listed`` (the ones it
    gives no margin rates), or None when it could: an activation's check, and a what-if's of its params file."""
    uncovered = sorted(set(listed) - set(version.margined_markets(params)))
    return f"params.markets has no margin rates for listed market(s): {', '.join(uncovered)}" if uncovered else None


def _activation(state: LedgerState, event: ev.RulesActivated) -> None:
    version = registry.get(event.version)
    params = version.parse_params(event.params)
    unknown = sorted(version.margined_markets(params) - set(state.markets))
    if unknown:
        raise InvalidRuleParams(f"params.markets names unlisted market(s): {', '.join(unknown)}")
    refusal = no_margin_rates(version, params, state.markets)
    if refusal:
        raise InvalidRuleParams(refusal)


def _loss_allocation(state: LedgerState, event: ev.LossAllocationActivated) -> None:
    """A registered loss-allocation policy, with params it accepts (the refusal names the key)."""
    allocation_registry.get(event.version).parse_params(thaw(event.params))


def _markets_margined(rules: RulesInForce, in_force: Callable[[RulesInForce], tuple[RuleVersion, Any]]) -> frozenset[str]:
    version, params = in_force(rules)
    return version.margined_markets(params)


_margined: PerParams[Callable[[RulesInForce], tuple[RuleVersion, Any]], frozenset[str]] = PerParams(_markets_margined)
"""(activation, ``version_in_force``) -> the markets its version margins under its params: every fill asks, and the
set is built once per activation, held by the activation's identity (looking the version and its parsed params up
through the registry and the activations' cache at every fill was a tenth of admitting it)."""


def _trade(state: LedgerState, event: ev.Trade) -> None:
    if state.rules is None:
        return
    if event.market not in _margined(state.rules, version_in_force):
        raise InvalidEvent(
            f"market {event.market!r} has no margin rates in the rules in force "
            f"({state.rules.version}, activated by {state.rules.event_id}): activate rules covering it first"
        )


def _isolated_margin(state: LedgerState, event: ev.IsolatedMargin) -> None:
    """Moving margin in must leave cross equity at or above cross IM; moving it out, isolated equity at or above the
    position's IM (the state-only checks, cash and zero floors, ran before)."""
    if state.rules is None:
        return
    version, params = version_in_force(state.rules)
    asset = state.markets[event.market].settle_asset
    if event.amount > 0:
        view, where = account_view(state, event.account, asset), "cross"
    else:
        view, where = isolated_view(state, event.account, event.market), f"{event.market} isolated"
        if not view.positions:
            return
    with arithmetic():
        after = equity(view) - abs(event.amount)
        required = version.initial(view, params)
    if after < required:
        raise InvalidEvent(
            f"moving {to_str(abs(event.amount))} {asset} {'into' if event.amount > 0 else 'out of'} isolated margin would "
            f"leave the {where} equity {to_str(after)} of {event.account!r} below its initial margin {to_str(required)}"
        )


def _withdrawal(state: LedgerState, event: ev.Withdrawal) -> None:
    if state.rules is None:
        return
    view = account_view(state, event.account, event.asset)
    if not view.positions:
        return
    version, params = version_in_force(state.rules)
    with arithmetic():
        after = equity(view) - event.amount
        required = version.initial(view, params)
    if after < required:
        raise InvalidEvent(
            f"withdrawal of {to_str(event.amount)} {event.asset} would leave equity {to_str(after)} "
            f"below the initial margin {to_str(required)} of {event.account!r}"
        )


_CHECKS: dict[type[ev.Event], Callable[[LedgerState, Any], None]] = {
    ev.RulesActivated: _activation, ev.Trade: _trade, ev.Withdrawal: _withdrawal, ev.IsolatedMargin: _isolated_margin,
    ev.LossAllocationActivated: _loss_allocation,
}


def check(state: LedgerState, event: ev.Event) -> None:
    rule_check = _CHECKS.get(type(event))
    if rule_check is not None:
        rule_check(state, event)
