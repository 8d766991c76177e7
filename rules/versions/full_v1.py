"""full-v1: close every position of a distressed account at the mark.

Rule: when an account is distressed (open positions and E < MM, cross margin in
the settle asset), every open position is closed whole at the mark, largest
maintenance margin first. Each close pays a penalty of
``liquidation_fee_rate × closed notional``, capped at the equity left, to the
insurance fund. A deficit left with everything closed is a bankruptcy.

Parameters: ``liquidation_fee_rate``; ``markets`` (maintenance and initial
margin rates). ``target_buffer`` is accepted and ignored, so one parameter file
serves both full-v1 and partial-v1 in a what-if comparison.

Source: the classic exchange liquidation, the baseline partial versions are
measured against. Previous version: none.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from rules.base import AccountView, Decision, DecisionContext, ParamDoc, Params, PositionView
from rules.flat import FEE, FLAT_MARKETS, FlatRateModel
from rules.params import parse_params
from rules.walk import walk

__all__ = ["RULE"]


class FullV1(FlatRateModel):
    """The flat-rate margin model (``rules.flat``) with this version's params and decision."""

    name = "full-v1"
    summary = "close every position of a distressed account at the mark"
    parameters: tuple[ParamDoc, ...] = (
        FEE,
        ParamDoc("target_buffer", "accepted and ignored (one params file serves full-v1 and partial-v1)", "any"),
        FLAT_MARKETS,
    )

    def parse_params(self, raw: Mapping[str, Any]) -> Params:
        params, _ = parse_params(raw, buffer_required=False)
        return Params(params.liquidation_fee_rate, Decimal(0), params.markets, params.extra)

    def decide(self, account: AccountView, params: Params, context: DecisionContext) -> Decision:
        return walk(account, params, context.insurance_fund, _close_whole, self, params.target_buffer)


def _close_whole(position: PositionView, equity: Decimal, mm: Decimal, params: Params) -> tuple[Decimal, None, str]:
    return abs(position.size), None, "full-v1 closes every position whole"


RULE = FullV1()
