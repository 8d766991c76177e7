"""full-v1: close every position of a distressed account at the mark.

Rule: when an account is distressed (open positions and E < MM, cross margin in
the settle asset), every open position is closed whole at the mark, largest
maintenance margin first. Each close pays a penalty of
``liquidation_fee_rate × closed notional``, capped at the equity left, to the
insurance fund. A deficit left with everything closed is a bankruptcy.

Parameters: ``liquidation_fee_rate``; ``markets`` (maintenance and initial
margin rates). ``target_buffer`` is accepted and ignored, so one parameter file
serves both full-v1 and partial-v1 in a what-if comparison.

Explanation: the close and its penalty, ``min(f·q·p, max(E, 0))`` with the
figures filled in (no quantity formula: nothing is sized).

Source: the classic exchange liquidation, the baseline partial versions are
measured against. Previous version: none.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ledger.domain.money import to_str
from rules.base import AccountView, Close, Decision, DecisionContext, ParamDoc, Params, PositionView
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

    def explain(self, account: AccountView, params: Params, close: Close) -> dict[str, str]:
        """full-v1's own rule with the figures of ``close`` filled in: no quantity formula (every position closes
        whole once the account is distressed), and the penalty, f × q × p capped at the equity left before it."""
        f = params.liquidation_fee_rate
        q, p, equity = close.qty, close.price, close.equity_before
        text = (f"distressed (E < MM): every position closes whole, this one q = |s| = {to_str(q)} at the mark "
                f"p = {to_str(p)}; penalty = min(f·q·p, max(E, 0)) = min({to_str(f)}·{to_str(q)}·{to_str(p)}, "
                f"max({to_str(equity)}, 0))")
        return {"formula": text, "result": f"= {to_str(close.penalty)}", "f": to_str(f),
                "m": to_str(params.markets[close.market].maintenance_margin_rate)}


def _close_whole(position: PositionView, equity: Decimal, mm: Decimal, params: Params) -> tuple[Decimal, None, str]:
    return abs(position.size), None, "full-v1 closes every position whole"


RULE = FullV1()
