"""The flat-rate margin model: one maintenance and one initial rate per market.

Shared by the versions that margin every position at its market's flat rates
(full-v1, partial-v1): maintenance and initial margin (``rules.margin``), the
distress test E < MM, the target (1 + b) × MM, the trigger prices of the
liquidation index, liquidation prices, and the explanation of a close by the partial formula. A
version built on this model subclasses ``FlatRateModel`` and adds its
``parse_params`` and ``decide``.

Trigger prices come from buffer shares (``rules.triggers``) with the flat rate
on both sides. ``triggers`` is built on ``scope_triggers``, which the
liquidation index asks for (``rules.base.ScopeTriggers``): a subclass that
changed how its triggers are found would override ``scope_triggers``, not
``triggers`` alone, or the index would go on asking the model's. Likewise
``trigger_stands`` (``rules.base.TriggerStands``) relies on this model's
margin (one rate per market, E < MM): a subclass that changed either must
override it too, or set ``trigger_stands = None`` (the index then re-indexes
its accounts at every fill).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from ledger.domain.money import arithmetic, to_str
from rules import margin
from rules.base import AccountView, Close, ParamDoc, Params, PositionView, ScopePosition, Trigger, triggers_of_view
from rules.liquidation_price import linear_liquidation_price
from rules.triggers import reduction_keeps, share_triggers

__all__ = ["FlatRateModel", "FEE", "BUFFER", "FLAT_MARKETS"]

FEE = ParamDoc("liquidation_fee_rate", "f: penalty per unit of closed notional, paid to the insurance fund", "0 <= f <= 0.1")
BUFFER = ParamDoc("target_buffer", "b: a decision restores E >= (1 + b) × MM", "0 <= b <= 10")
FLAT_MARKETS = ParamDoc(
    "markets", "per listed market: maintenance_margin_rate m and initial_margin_rate (every listed market)",
    "0.0001 <= m < 1, m <= initial <= 1",
)

class FlatRateModel:
    """Margin, distress, target, triggers and explanation at flat per-market rates (params: ``rules.base.Params``)."""

    may_leave_distressed: str | None = None

    def margined_markets(self, params: Params) -> frozenset[str]:
        return frozenset(params.markets)

    def position_maintenance(self, position: PositionView, params: Params) -> Decimal:
        return margin.position_maintenance(position, params)

    def position_initial(self, position: PositionView, params: Params) -> Decimal:
        return margin.notional(position) * params.markets[position.market].initial_margin_rate

    def maintenance(self, account: AccountView, params: Params) -> Decimal:
        return margin.maintenance(account, params)

    def initial(self, account: AccountView, params: Params) -> Decimal:
        return margin.initial(account, params)

    def maintenance_after_close(self, position: PositionView, qty: Decimal, maintenance: Decimal, params: Params) -> Decimal:
        return maintenance - qty * position.mark * params.markets[position.market].maintenance_margin_rate

    def is_distressed(self, account: AccountView, params: Params) -> bool:
        return margin.is_distressed(account, params)

    def target(self, account: AccountView, params: Params) -> Decimal:
        return (1 + params.target_buffer) * margin.maintenance(account, params)

    def trigger_key(self, raw: Mapping[str, Any]) -> Any:
        """Triggers split the buffer over the maintenance margin at each market's rates: the markets' rates alone."""
        return raw["markets"]

    def triggers(self, account: AccountView, params: Params) -> Sequence[Trigger]:
        return triggers_of_view(self, account, params)

    def scope_triggers(self, cash: Decimal, positions: Sequence[ScopePosition],
                       params: Params) -> list[tuple[str, bool, Decimal]]:
        """Buffer shares of E − MM at the flat rates (``rules.base.ScopeTriggers``: what the index asks)."""
        return share_triggers(positions, margin.scope_buffer(cash, positions, params), params, _flat_bounds)

    def trigger_stands(self, trigger: Decimal, is_long: bool, qty: Decimal, price: Decimal, fee: Decimal, market: str,
                       params: Params) -> bool:
        """A fill taking ``qty`` off keeps the triggers when the margin it frees at the market's one rate pays for its
        price and fee at the trigger (``rules.base.TriggerStands``; ``rules.triggers.reduction_keeps``)."""
        return reduction_keeps(trigger, is_long, qty, price, fee, params.markets[market].maintenance_margin_rate)

    def liquidation_price(self, account: AccountView, market: str, params: Params) -> Decimal | None:
        """E − MM is one line in the mark: slope s − |s|·m (``rules.liquidation_price``)."""
        position = next((p for p in account.positions if p.market == market and p.size != 0), None)
        if position is None:
            return None
        with arithmetic():
            gap_now = margin.equity(account) - margin.maintenance(account, params)
            slope = position.size - abs(position.size) * params.markets[market].maintenance_margin_rate
        return linear_liquidation_price(position, gap_now, slope)

    def explain(self, account: AccountView, params: Params, close: Close) -> dict[str, str]:
        """The partial formula with the figures of ``close`` filled in (a version that sizes no partial close, as
        full-v1, explains itself instead)."""
        b, f = params.target_buffer, params.liquidation_fee_rate
        m = params.markets[close.market].maintenance_margin_rate
        p, equity, mm = close.price, close.equity_before, close.maintenance_before
        lot = next(position.lot_size for position in account.positions if position.market == close.market)
        text = (
            f"q >= ((1+b)·MM − E) / (p·((1+b)·m − f)) = ((1+{to_str(b)})·{to_str(mm)} − {to_str(equity)}) / "
            f"({to_str(p)}·((1+{to_str(b)})·{to_str(m)} − {to_str(f)}))"
        )
        if close.required_qty is None:
            result = "no partial quantity: the rule closes the whole position" + (
                f" ((1+b)·m = {to_str((1 + b) * m)} <= f = {to_str(f)})" if (1 + b) * m <= f else "")
        else:
            result = f"= {to_str(close.required_qty)}, rounded up to the lot {to_str(lot)}"
        return {"formula": text, "result": result, "b": to_str(b), "f": to_str(f), "m": to_str(m)}


def _flat_bounds(params: Params) -> dict[str, tuple[Decimal, Decimal]]:
    return {market: (rates.maintenance_margin_rate, rates.maintenance_margin_rate) for market, rates in params.markets.items()}
