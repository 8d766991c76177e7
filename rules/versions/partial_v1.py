"""partial-v1: close only the smallest quantity that restores the target margin.

Rule: positions of a distressed account are taken largest maintenance margin
first (ties by market name). For each, while E < (1 + target_buffer) × MM,
close the smallest q, rounded UP to the market's lot size, with

    q >= ((1+b)·MM − E) / (p·((1+b)·m − f))

(p the mark, m the position's maintenance rate, f the liquidation fee rate, b
the target buffer). The whole position is closed instead when (1+b)·m <= f
(partial cannot help), when q reaches the whole position, or when what would
remain is below one lot (dust). Penalty ``f × closed notional``, capped at the
equity left, to the insurance fund; a deficit with everything closed is a
bankruptcy.

Parameters: ``liquidation_fee_rate``, ``target_buffer`` (required, >= 0),
``markets`` (maintenance and initial margin rates).

Source: issue 3 of this project; worked examples in ``shared/vectors``.
Previous version: full-v1 (which closes everything).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from rules.base import AccountView, Decision, DecisionContext, ParamDoc, Params, PositionView
from rules.flat import BUFFER, FEE, FLAT_MARKETS, FlatRateModel
from rules.params import parse_params
from rules.sizing import required_qty, round_up_to_lot
from rules.walk import walk

__all__ = ["RULE"]


class PartialV1(FlatRateModel):
    """The flat-rate margin model (``rules.flat``) with this version's params and decision."""

    name = "partial-v1"
    summary = "close the smallest lot-rounded quantity restoring E >= (1+b)·MM, largest margin first"
    parameters: tuple[ParamDoc, ...] = (FEE, BUFFER, FLAT_MARKETS)

    def parse_params(self, raw: Mapping[str, Any]) -> Params:
        params, _ = parse_params(raw, buffer_required=True)
        return params

    def decide(self, account: AccountView, params: Params, context: DecisionContext) -> Decision:
        return walk(account, params, context.insurance_fund, _choose, self, params.target_buffer)


def _choose(position: PositionView, equity: Decimal, mm: Decimal, params: Params) -> tuple[Decimal, Decimal | None, str] | None:
    buffer = params.target_buffer
    if equity >= (1 + buffer) * mm:
        return None
    size = abs(position.size)
    rate = params.markets[position.market].maintenance_margin_rate
    required = required_qty(equity, mm, position.mark, rate, params.liquidation_fee_rate, buffer)
    if required is None:
        return size, None, "(1+b)·m <= f: no partial close restores the target, closing whole"
    qty = round_up_to_lot(required, position.lot_size)
    if qty >= size:
        return size, required, "required quantity reaches the whole position, closing whole"
    if size - qty < position.lot_size:
        return size, required, "remainder would be below one lot (dust), closing whole"
    return qty, required, "partial: smallest lot-rounded quantity restoring the target"


RULE = PartialV1()
