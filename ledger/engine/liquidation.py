"""The liquidation engine: after a mark or a funding, ask the rule in force, record its decisions.

Runs only when such an event is *appended* (never during replay, which folds
the recorded decisions). For every account exposed to the market, the margin
scope holding it is viewed: the account's cross margin in the market's settle
asset, or the isolated position alone (a one-position account whose cash is
its isolated margin). If it is distressed by the version's own test, the rule
version in force (looked up in the registry by name; it owns its margin
model) decides, and each close and any bankruptcy becomes an event, applied to
the state at once so the next account sees the insurance fund as it now is.
Accounts go in name order and event ids derive from the trigger's id, so the
same log always yields the same liquidations. After a trade that closes an
isolated position whose margin is negative, the engine records that
position's bankruptcy (``on_trade``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from ledger.domain import events as ev
from ledger.domain.fold import apply
from ledger.domain.money import ZERO, arithmetic
from ledger.domain.state import CROSS_SCOPE, INSURANCE_FUND, LedgerState, RulesInForce, clone
from ledger.engine.activations import parsed_once
from ledger.engine.allocation import allocate, policy_in_force
from ledger.engine.views import account_view, isolated_view, scope_view
from rules import registry
from rules.allocation.base import SOCIALIZE
from rules.base import AccountView, Bankruptcy, Decision, DecisionContext, RuleVersion
from rules.walk import split_deficit

__all__ = [
    "Substitute", "account_view", "isolated_view", "scope_view", "params_in_force", "version_in_force",
    "decide_for_account", "liquidation_price", "liquidation_prices", "on_price", "on_trade", "closes_isolated_in_deficit",
    "after_event", "decision_events", "NO_RULES",
]

Substitute = Callable[[RulesInForce], RulesInForce]
"""What-if hook: given the rules really in force, the rules to decide with instead."""


def params_in_force(rules: RulesInForce) -> Any:
    """Parsed params of an activation (the version's own typed params), parsed once per activation and kept
    (``engine.activations``)."""
    return parsed_once(rules, registry.get(rules.version).parse_params)


def version_in_force(rules: RulesInForce) -> tuple[RuleVersion, Any]:
    """The registered version an activation names, and its parsed params: all the ledger asks of the rules."""
    return registry.get(rules.version), params_in_force(rules)


def liquidation_price(state: LedgerState, account: str, market: str, rules: RulesInForce | None) -> Decimal | None:
    """The mark of ``market`` at which ``rules`` would first find the position's margin scope distressed (the cross
    account, or the isolated position alone), every other mark unchanged; None when no price can, or no rules."""
    return liquidation_prices(state, account, rules).get(market)


def liquidation_prices(state: LedgerState, account: str, rules: RulesInForce | None) -> dict[str, Decimal | None]:
    """``liquidation_price`` of every open position of ``account``, each margin scope viewed once (balances ask for all)."""
    acct = state.account(account)
    open_markets = acct.open_markets()
    if rules is None or not open_markets:
        return dict.fromkeys(open_markets)
    version, params = version_in_force(rules)
    prices: dict[str, Decimal | None] = {}
    views: dict[tuple[str, str], AccountView] = {}
    with arithmetic():
        for market in open_markets:
            info = state.markets[market]
            if info.price is None:
                prices[market] = None
                continue
            key = (acct.scope_of(market), info.settle_asset)
            view = views.get(key) or views.setdefault(key, scope_view(state, account, *key))
            prices[market] = version.liquidation_price(view, market, params)
    return prices


def decide_for_account(
    state: LedgerState, account: str, settle_asset: str, rules: RulesInForce, at: datetime, scope: str = CROSS_SCOPE
) -> Decision | None:
    """The decision of ``rules`` for one margin scope of an account at business time ``at``, or None when not distressed."""
    version, params = version_in_force(rules)
    view = scope_view(state, account, scope, settle_asset)
    with arithmetic():
        if not version.is_distressed(view, params):
            return None
    fund = state.system[INSURANCE_FUND].get(settle_asset, ZERO)
    last_partial = state.last_partial_close(account, scope, rules.version, at)
    return version.decide(view, params, DecisionContext(at, fund, last_partial))


def decision_events(
    trigger: ev.Event, account: str, settle_asset: str, version: str, decision: Decision, scope: str = CROSS_SCOPE
) -> list[ev.EngineEvent]:
    """The events of a decision made at ``trigger`` (a mark or a funding) for ``account``'s margin ``scope``."""
    out: list[ev.EngineEvent] = []
    for close in decision.closes:  # the event records the close the rule decided, as it is
        out.append(ev.Liquidation(  # noqa: PERF401 (one event per close)
            id=ev.engine_id(trigger.id, ev.LIQUIDATION_ID_MARK, account, close.market), at=trigger.at, account=account,
            rule_version=version, trigger=trigger.id, close=close,
        ))
    if decision.bankruptcy is not None:
        out.append(_bankruptcy(trigger, account, settle_asset, version, decision.bankruptcy, scope))
    return out


def _bankruptcy(trigger: ev.Event, account: str, asset: str, version: str, b: Bankruptcy, scope: str) -> ev.Bankruptcy:
    """A cross bankruptcy is named by its asset, an isolated one by its market (and names the market)."""
    return ev.Bankruptcy(
        id=ev.engine_id(trigger.id, ev.BANKRUPTCY_ID_MARK, account, scope or asset),
        at=trigger.at,
        account=account,
        asset=asset,
        deficit=b.deficit,
        fund_before=b.fund_before,
        insurance_covered=b.insurance_covered,
        socialized_loss=b.socialized_loss,
        rule_version=version,
        trigger=trigger.id,
        market=scope or None,
    )


def on_price(
    state: LedgerState, event: ev.Mark | ev.Funding, substitute: Substitute | None = None,
    accounts: Sequence[str] | None = None, *, on_copy: bool = False, policy: RulesInForce | None = None,
) -> list[ev.EngineEvent]:
    """Liquidation events for a mark or a funding of market M (already applied to ``state``), applied as made.

    One pass over the accounts holding M, in name order (``accounts``, sorted,
    limits it to candidates from the liquidation index, which always include
    every account the event distresses): each is checked as a cross account if
    its position in M is cross, or as that one isolated position if it is
    isolated. The rules in force decide; ``substitute`` swaps in others
    (what-if). Before any activation nothing is liquidated.

    ``on_copy``: leave ``state`` as it is, and apply the events to a copy of
    it made at the first decision (checking an account changes nothing, so
    the accounts before it were checked on what the copy holds). The audit
    re-decides every mark this way: most marks decide nothing, and a copy of
    the whole state at each of them cost O(accounts) per mark.
    """
    if state.rules is None:
        return []
    rules = substitute(state.rules) if substitute else state.rules
    settle = state.markets[event.market].settle_asset
    made: list[ev.EngineEvent] = []
    names = state.accounts_in_market(event.market) if accounts is None else accounts
    if policy_in_force(state, policy)[0].kind != SOCIALIZE:  # fills may move accounts later in the pass: the pass is fixed
        names = _distressed_now(state, names, event.market, settle, rules)  # at its start (a fill's distress waits)
    for account in names:
        scope = state.account(account).scope_of(event.market)
        decision = decide_for_account(state, account, settle, rules, event.at, scope)
        if decision is None:
            continue
        if on_copy:
            state, on_copy = clone(state), False
        events = decision_events(event, account, settle, rules.version, decision, scope)
        if decision.bankruptcy is not None:
            *closed, bankrupt = events
            assert isinstance(bankrupt, ev.Bankruptcy), "a decision's events end with its bankruptcy"
            bankruptcy, deleveraged = allocate(state, bankrupt, decision.closes, policy)
            events = [*closed, bankruptcy, *deleveraged]
        for made_event in events:
            apply(state, made_event)
            made.append(made_event)
    return made


def _distressed_now(
    state: LedgerState, names: Sequence[str], market: str, settle: str, rules: RulesInForce,
) -> list[str]:
    """Of ``names``, those whose margin scope holding ``market`` is distressed now, in order."""
    version, params = version_in_force(rules)
    out = []
    with arithmetic():
        for name in names:
            scope = state.account(name).scope_of(market)
            if version.is_distressed(scope_view(state, name, scope, settle), params):
                out.append(name)
    return out


NO_RULES = "none"
"""The ``rule_version`` of a bankruptcy no rule decided (an isolated position closed by a trade before any activation)."""


def closes_isolated_in_deficit(state: LedgerState, trade: ev.Trade) -> bool:
    """Whether ``trade`` (already applied) closed an isolated position whose margin is now negative."""
    acct = state.accounts[trade.account]
    return acct.is_isolated(trade.market) and acct.positions[trade.market].size == 0 and acct.isolated[trade.market] < 0


def on_trade(state: LedgerState, trade: ev.Trade, substitute: Substitute | None = None) -> list[ev.EngineEvent]:
    """A trade that closed an isolated position whose margin is negative: the bankruptcy of that position, applied.

    The deficit is covered by the insurance fund as far as it goes, the rest
    is a socialized loss; the account's cross cash is never touched.
    """
    if not closes_isolated_in_deficit(state, trade):
        return []
    margin = state.accounts[trade.account].isolated[trade.market]
    rules = (substitute(state.rules) if substitute else state.rules) if state.rules is not None else None
    settle = state.markets[trade.market].settle_asset
    with arithmetic():
        split = split_deficit(-margin, state.system[INSURANCE_FUND].get(settle, ZERO))
    event = _bankruptcy(trade, trade.account, settle, rules.version if rules else NO_RULES, split, trade.market)
    apply(state, event)
    return [event]


def after_event(
    state: LedgerState, event: ev.Event, substitute: Substitute | None = None, accounts: Sequence[str] | None = None,
    *, on_copy: bool = False, policy: RulesInForce | None = None,
) -> list[ev.EngineEvent]:
    """What the engine appends after an ingested event (already applied): decisions after a mark or a funding, a
    bankruptcy after a trade that closed an isolated position in deficit; nothing after any other event.

    ``on_copy``: the events are applied to a copy of ``state``, made only if there are any (``on_price``).
    """
    if isinstance(event, (ev.Mark, ev.Funding)):
        return on_price(state, event, substitute, accounts, on_copy=on_copy, policy=policy)
    if isinstance(event, ev.Trade):
        if on_copy and closes_isolated_in_deficit(state, event):
            state = clone(state)
        return on_trade(state, event, substitute)
    return []
