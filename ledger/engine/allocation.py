"""After a bankruptcy, who pays what the insurance fund could not cover: the loss-allocation policy in force.

A bankruptcy's residual R (its deficit less what the fund covered) goes to
the policy in force (``rules.allocation``; its registry's default before any
activation, which books it all as a socialized loss). An ADL policy places
it in the markets where this same decision closed some of the bankrupt
scope: R_m = R × N_m / ΣN with N_m the closed quantity times the mark,
markets in descending N_m (ties by name), each R_m rounded down to the cash
quantum but the last, which takes the rest. Market by market, each reading
the state the previous one's fills left, the opposite positions of every
other account whose scope equity is positive are the counterparties; the
policy's fills become one ``auto_deleverage`` event per market. The
bankruptcy records what they paid (``adl_covered``) and socializes the rest.

A decision that closed nothing (a trade closed an isolated position in
deficit) has no market to allocate in: its residual is socialized.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

from attrs import evolve

from ledger.domain import events as ev
from ledger.domain.fold import apply
from ledger.domain.money import ZERO, arithmetic
from ledger.domain.state import CROSS_SCOPE, LedgerState, RulesInForce, clone
from ledger.engine.activations import parsed_once
from ledger.engine.views import scope_view
from rules.allocation import registry
from rules.allocation.base import SOCIALIZE, Counterparty, LossPolicy, floor_to
from rules.base import equity

__all__ = ["policy_in_force", "allocate", "counterparties", "quantiles_of"]

def policy_in_force(
    state: LedgerState, instead: RulesInForce | None = None,
) -> tuple[LossPolicy, Any, RulesInForce | None]:
    """The loss-allocation policy in force (or ``instead``, a what-if's), its parsed params (parsed once per
    activation), and its activation (None before any: the registry's default)."""
    activation = instead if instead is not None else state.loss_allocation
    if activation is None:
        return registry.get(registry.DEFAULT), None, None
    policy = registry.get(activation.version)
    return policy, parsed_once(activation, policy.parse_params), activation


def counterparties(state: LedgerState, market: str, long_bankrupt: bool, excluded: str) -> list[Counterparty]:
    """The positions in ``market`` opposite a bankrupt long (or short), of every account but ``excluded``, in the
    scope that holds each, whose scope equity at the current marks is positive."""
    info = state.markets[market]
    out = []
    with arithmetic():  # scope equity exactly, whoever asks
        for name in state.accounts_in_market(market):
            if name == excluded:
                continue
            position = state.accounts[name].positions[market]
            if (position.size < 0) != long_bankrupt:
                continue
            scope = state.accounts[name].scope_of(market)
            worth = equity(scope_view(state, name, scope, info.settle_asset))
            if worth > 0:
                out.append(Counterparty(name, scope, position.size, position.entry_price, worth, info.lot_size))
    return out


def quantiles_of(state: LedgerState, market: str) -> dict[tuple[str, str], int]:
    """Each eligible position's place in the ADL queue of its side of ``market`` (1 first to 5), under the policy in
    force; empty when the policy has no queue or the market no price."""
    policy, params, _ = policy_in_force(state)
    price = state.markets[market].price
    if price is None:
        return {}
    out: dict[tuple[str, str], int] = {}
    for long_side in (True, False):  # the shorts are the queue against a bankrupt long, and the other way round
        out.update(policy.quantiles(price, counterparties(state, market, long_side, excluded=""), params))
    return out


def allocate(
    state: LedgerState, bankruptcy: ev.Bankruptcy, closes: Sequence[ev.Close], instead: RulesInForce | None = None,
) -> tuple[ev.Bankruptcy, list[ev.AutoDeleverage]]:
    """The bankruptcy as the policy in force (or ``instead``) allocates its residual, and one ``auto_deleverage`` per
    market it placed some of it in; ``state`` is left as it is (the caller folds the events, in this order).

    In the ledger's exact context whoever calls it (the audit re-decides outside one): a figure is never rounded.
    """
    with arithmetic():
        return _allocate(state, bankruptcy, closes, instead)


def _allocate(
    state: LedgerState, bankruptcy: ev.Bankruptcy, closes: Sequence[ev.Close], instead: RulesInForce | None,
) -> tuple[ev.Bankruptcy, list[ev.AutoDeleverage]]:
    residual = bankruptcy.deficit - bankruptcy.insurance_covered
    policy, params, activation = policy_in_force(state, instead)
    if residual <= 0 or policy.kind == SOCIALIZE or activation is None or not closes:
        return bankruptcy, []
    shares = _shares(residual, closes, params.cash_quantum)
    world = clone(state) if len(shares) > 1 else state  # later markets read what earlier fills left
    made = []
    for market, (share, closed, mark, long_bankrupt) in shares.items():
        if share <= 0:
            continue
        found = counterparties(world, market, long_bankrupt, excluded=bankruptcy.account)
        done = policy.allocate(share, closed, mark, found, params)
        held = {(p.account, p.scope): p for p in found}
        event = ev.AutoDeleverage(
            id=ev.engine_id(bankruptcy.trigger, ev.ADL_ID_MARK, bankruptcy.account, market), at=bankruptcy.at,
            policy=activation.version, params=activation.params, bankruptcy=bankruptcy.id, trigger=bankruptcy.trigger,
            market=market, asset=bankruptcy.asset, mark=mark, residual=share, closed=closed,
            fills=tuple(ev.DeleverageFill(account=f.account, margin=ev.ISOLATED if f.scope != CROSS_SCOPE else ev.CROSS,
                                          side="buy" if long_bankrupt else "sell", size=held[f.account, f.scope].size,
                                          entry_price=held[f.account, f.scope].entry, qty=f.qty, haircut=f.haircut,
                                          basis=f.basis, rank=str(f.rank)) for f in done.fills),
            unfilled=done.unfilled, socialized=done.socialized,
        )
        if world is not state:
            apply(world, event)
        made.append(event)
    covered = sum((fill.haircut for event in made for fill in event.fills), ZERO)
    return evolve(bankruptcy, socialized_loss=residual - covered, adl_covered=covered), made


def _shares(residual: Decimal, closes: Sequence[ev.Close], quantum: Decimal) -> dict[str, tuple[Decimal, Decimal, Decimal, bool]]:
    """market -> (R_m, Q_m, its mark, whether the bankrupt position was long), in allocation order: descending closed
    notional (ties by name); every R_m but the last rounded down to the quantum, the last the rest."""
    closed: dict[str, Decimal] = {}
    marks: dict[str, Decimal] = {}
    longs: dict[str, bool] = {}
    for close in closes:
        closed[close.market] = closed.get(close.market, ZERO) + close.qty
        marks[close.market], longs[close.market] = close.price, close.side == "sell"
    notional = {m: Fraction(closed[m]) * Fraction(marks[m]) for m in closed}
    order = sorted(closed, key=lambda m: (-notional[m], m))
    total = sum(notional.values(), Fraction(0))
    out: dict[str, tuple[Decimal, Decimal, Decimal, bool]] = {}
    placed = ZERO
    for n, market in enumerate(order):
        share = residual - placed if n == len(order) - 1 else floor_to(Fraction(residual) * notional[market] / total, quantum)
        placed += share
        out[market] = (share, closed[market], marks[market], longs[market])
    return out
