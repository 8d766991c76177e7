"""tiered-v1: tiered maintenance margin (exchange brackets), restoring the target with the fewest lots.

Margin model: each market has brackets (``rules.tiers``): a position of
notional N = |size| × mark is margined at its bracket's rate less the
bracket's cum amount, MM(N) = N × mmr_k − cum_k, continuous at every edge;
initial margin likewise with the initial rates. An account is distressed when
it has open positions and E < MM (the sum over its positions).

Rule: positions of a distressed account are taken largest MM(N) first (ties by
market name). While E < (1 + b) × MM, for the position of size s at mark p
with lot ℓ, close q = n × ℓ for the smallest whole n >= 1 with q < |s| such
that

    E − f·q·p >= (1+b) × (MM − MM(|s|·p) + MM((|s|−q)·p))

and stop; if no such n exists, close the position whole and go on to the
next. The condition is not linear across brackets; with (1+b) × mmr > f in
every bracket (checked at activation) it is monotone in n, so n is found by
bisection, in exact decimals. Penalty f × q × p, capped at the equity left, to
the insurance fund; a deficit with everything closed is a bankruptcy.

Parameters: ``liquidation_fee_rate`` f, ``target_buffer`` b (required, >= 0),
``markets``: market -> ``tiers``, a list in ascending ``max_notional`` (the
last without), each with ``maintenance_margin_rate`` and
``initial_margin_rate``.

Source: Binance USDⓈ-M leverage and margin brackets (BTCUSDT, 2021-03-18),
Bybit and OKX risk limits, Hyperliquid margin tiers; issue 13 of this project.
Previous version: partial-v1 (flat rates).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_CEILING, Decimal
from types import MappingProxyType
from typing import Any

from attrs import frozen

from ledger.domain.money import DIVISION, ZERO, arithmetic, to_str
from ledger.errors import InvalidRuleParams
from rules.base import (
    AccountView,
    Close,
    Decision,
    DecisionContext,
    ParamDoc,
    PositionView,
    ScopePosition,
    Trigger,
    equity,
    triggers_of_view,
)
from rules.flat import BUFFER, FEE
from rules.liquidation_price import liquidation_price
from rules.params import check_keys, fee_rate, market_table, target_buffer
from rules.tiers import Tier, initial_of, maintenance_of, parse_tiers, tier_of
from rules.triggers import reduction_keeps, share_triggers
from rules.walk import walk

__all__ = ["RULE", "TieredParams"]


@frozen
class TieredParams:
    liquidation_fee_rate: Decimal
    target_buffer: Decimal
    markets: Mapping[str, tuple[Tier, ...]]


_Choice = tuple[Decimal, Decimal | None, str] | None


def _bracket_bounds(params: TieredParams) -> dict[str, tuple[Decimal, Decimal]]:
    """Per market, the lowest and highest maintenance rate (rates never decrease: the first and the last tier's)."""
    return {market: (tiers[0].maintenance_margin_rate, tiers[-1].maintenance_margin_rate)
            for market, tiers in params.markets.items()}


def _notional(position: PositionView) -> Decimal:
    return abs(position.size) * position.mark


class TieredV1:
    """Tiered margin (``rules.tiers``), its distress test and target, and the fewest-lots restoring close."""

    name = "tiered-v1"
    may_leave_distressed: str | None = None
    summary = "tiered maintenance margin (exchange brackets); close the fewest lots restoring E >= (1+b)·MM"
    parameters: tuple[ParamDoc, ...] = (
        FEE, BUFFER,
        ParamDoc("markets", "per listed market: tiers, a list ascending by max_notional (the last without), each with "
                 "maintenance_margin_rate and initial_margin_rate; MM(N) = N·mmr_k − cum_k, continuous at the edges",
                 "edges strictly increasing; rates non-decreasing; 0 < mmr < 1, mmr <= imr <= 1; (1+b)·mmr > f"),
    )

    def parse_params(self, raw: Mapping[str, Any]) -> TieredParams:
        raw = check_keys(raw, {"liquidation_fee_rate", "target_buffer", "markets"})
        fee, buffer = fee_rate(raw), target_buffer(raw, required=True)
        markets = {}
        for market, table in market_table(raw).items():
            if not isinstance(table, Mapping) or set(table) != {"tiers"}:
                raise InvalidRuleParams(f"params.markets.{market} must be an object holding only tiers")
            markets[market] = parse_tiers(market, table["tiers"], buffer, fee)
        return TieredParams(fee, buffer, MappingProxyType(markets))

    # -- the margin model -----------------------------------------------------
    def margined_markets(self, params: TieredParams) -> frozenset[str]:
        return frozenset(params.markets)

    def position_maintenance(self, position: PositionView, params: TieredParams) -> Decimal:
        return maintenance_of(params.markets[position.market], _notional(position))

    def position_initial(self, position: PositionView, params: TieredParams) -> Decimal:
        return initial_of(params.markets[position.market], _notional(position))

    def maintenance(self, account: AccountView, params: TieredParams) -> Decimal:
        return sum((self.position_maintenance(p, params) for p in account.positions), ZERO)

    def initial(self, account: AccountView, params: TieredParams) -> Decimal:
        return sum((self.position_initial(p, params) for p in account.positions), ZERO)

    def maintenance_after_close(self, position: PositionView, qty: Decimal, maintenance: Decimal,
                                params: TieredParams) -> Decimal:
        tiers = params.markets[position.market]
        size = abs(position.size)
        return maintenance - maintenance_of(tiers, size * position.mark) + maintenance_of(tiers, (size - qty) * position.mark)

    def is_distressed(self, account: AccountView, params: TieredParams) -> bool:
        return any(p.size != 0 for p in account.positions) and equity(account) < self.maintenance(account, params)

    def target(self, account: AccountView, params: TieredParams) -> Decimal:
        return (1 + params.target_buffer) * self.maintenance(account, params)

    def trigger_key(self, raw: Mapping[str, Any]) -> Any:
        """Triggers split the buffer over the maintenance margin of each market's brackets: the brackets alone."""
        return raw["markets"]

    def triggers(self, account: AccountView, params: TieredParams) -> Sequence[Trigger]:
        return triggers_of_view(self, account, params)

    def scope_triggers(self, cash: Decimal, positions: Sequence[ScopePosition],
                       params: TieredParams) -> list[tuple[str, bool, Decimal]]:
        """Buffer shares of E − MM over the brackets (``rules.base.ScopeTriggers``: what the index asks): E − MM by
        the steps of ``equity`` and ``maintenance`` (each sum from ``ZERO``, then cash + Σ pnl − Σ MM), without a view
        per position."""
        markets = params.markets
        with arithmetic():
            pnl = mm = ZERO
            for market, size, entry_price, mark in positions:
                pnl += size * (mark - entry_price)
                mm += maintenance_of(markets[market], abs(size) * mark)
            buffer = cash + pnl - mm
        return share_triggers(positions, buffer, params, _bracket_bounds)

    def trigger_stands(self, trigger: Decimal, is_long: bool, qty: Decimal, price: Decimal, fee: Decimal, market: str,
                       params: TieredParams) -> bool:
        """A fill taking ``qty`` off frees margin at no less than the first bracket's rate (rates never decrease, and
        MM is continuous at each edge): the triggers stand when that pays for the fill's price and fee at the trigger
        (``rules.base.TriggerStands``; ``rules.triggers.reduction_keeps``)."""
        return reduction_keeps(trigger, is_long, qty, price, fee, params.markets[market][0].maintenance_margin_rate)

    def liquidation_price(self, account: AccountView, market: str, params: TieredParams) -> Decimal | None:
        """E − MM is linear between bracket edges (MM is continuous at each): the root is found piece by piece."""
        edges = [tier.max_notional for tier in params.markets[market] if tier.max_notional is not None]
        return liquidation_price(account, market, params, self.maintenance, edges)

    # -- the decision -----------------------------------------------------------
    def decide(self, account: AccountView, params: TieredParams, context: DecisionContext) -> Decision:
        def choose(position: PositionView, equity_now: Decimal, mm: Decimal, _: Any) -> _Choice:
            if equity_now >= (1 + params.target_buffer) * mm:
                return None
            lots = _restoring_lots(position, equity_now, mm, params)
            if lots is None:
                return abs(position.size), None, "no partial close restores the target: closing whole"
            qty = lots * position.lot_size
            return qty, qty, f"partial: {lots} lot(s), the fewest restoring the target"

        return walk(account, params, context.insurance_fund, choose, self, params.target_buffer)

    def explain(self, account: AccountView, params: TieredParams, close: Close) -> dict[str, str]:
        position = next(p for p in account.positions if p.market == close.market)
        tiers = params.markets[close.market]
        notional = _notional(position)
        k = tier_of(tiers, notional)
        b, f = params.target_buffer, params.liquidation_fee_rate
        text = (
            "smallest n >= 1 with q = n·ℓ < |s| and E − f·q·p >= (1+b)·(MM − MM(|s|·p) + MM((|s|−q)·p)), "
            f"MM(N) = N·mmr_k − cum_k; E = {to_str(close.equity_before)}, MM = {to_str(close.maintenance_before)}, "
            f"p = {to_str(close.price)}, |s| = {to_str(abs(position.size))}, ℓ = {to_str(position.lot_size)}, "
            f"N = {to_str(notional)} in tier {k + 1} (mmr {to_str(tiers[k].maintenance_margin_rate)}, "
            f"cum {to_str(tiers[k].maintenance_cum)})"
        )
        if close.required_qty is None:
            result = "no such n: the whole position closes"
        else:
            lots = DIVISION.divide(close.qty, position.lot_size)
            result = f"n = {to_str(lots)}, q = {to_str(close.qty)}"
        return {"formula": text, "result": result, "b": to_str(b), "f": to_str(f), "tier": str(k + 1),
                "mmr": to_str(tiers[k].maintenance_margin_rate), "cum": to_str(tiers[k].maintenance_cum)}


def _restoring_lots(position: PositionView, equity_now: Decimal, mm: Decimal, params: TieredParams) -> int | None:
    """The smallest n >= 1 with n·ℓ < |s| meeting the target condition, or None (bisection; monotone in n)."""
    tiers, size, price, lot = params.markets[position.market], abs(position.size), position.mark, position.lot_size
    rest = mm - maintenance_of(tiers, size * price)
    buffer, fee = 1 + params.target_buffer, params.liquidation_fee_rate

    def restores(n: int) -> bool:
        qty = n * lot
        return equity_now - fee * qty * price >= buffer * (rest + maintenance_of(tiers, (size - qty) * price))

    most = int(DIVISION.divide(size, lot).to_integral_value(rounding=ROUND_CEILING)) - 1  # lots strictly below |s|
    if most < 1 or not restores(most):
        return None
    low, high = 1, most
    while low < high:
        middle = (low + high) // 2
        if restores(middle):
            high = middle
        else:
            low = middle + 1
    return low


RULE = TieredV1()
