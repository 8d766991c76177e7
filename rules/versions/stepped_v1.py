"""stepped-v1: fixed-fraction steps with a cooldown, and a backstop (modelled on Hyperliquid's liquidations).

Margin model: flat rates per market, as partial-v1 (``rules.flat``); an
account is distressed when it has open positions and E < MM. There is no
target buffer: a decision stops as soon as E >= MM.

Rule, decided once per triggering event from E and MM before any close:

- Backstop: if E < β × MM, every open position is closed whole at the mark,
  largest MM first, reason "backstop". Each close pays the usual capped
  penalty except the last one in that order (the smallest MM; the only one
  if there is one position), which pays all the equity left after its fill
  (never below zero), even when f = 0: the maintenance margin is not
  returned. Then bankruptcy as usual if E < 0.
- Otherwise each position is visited once, largest MM first (ties by market
  name), stopping as soon as E >= MM: a position whose notional |s|·p exceeds
  T, in an account not cooling down, is stepped down by q = φ × |s| rounded
  UP to the lot (a whole close if that reaches |s|); any other position is
  closed whole. The decision ends after the last position even if the
  account is still distressed; the next triggering event decides again.
- Cooling down: at a triggering event of time t the account is cooling down
  when this version's last partial close of it, strictly before t, was at
  t0 with t < t0 + C (the ledger folds that time from the stored
  liquidations: ``DecisionContext.last_partial_close``). At t = t0 + C it no
  longer is. A step rounding up to the whole position is a whole close and
  cools nothing.

Parameters: ``liquidation_fee_rate`` f (0 allowed), ``markets`` (flat
maintenance and initial rates, as partial-v1), ``partial_threshold_notional``
T, ``step_fraction`` φ, ``cooldown_seconds`` C, ``backstop_ratio`` β. No
``target_buffer``.

Source: Hyperliquid's liquidation documentation (20% partial liquidations of
positions above a notional, a 30 s cooldown, backstop liquidation below two
thirds of maintenance margin, the maintenance margin kept by the liquidator);
issue 13 of this project. Previous version: partial-v1.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from attrs import frozen

from ledger.domain.money import ZERO, to_str
from ledger.domain.timefmt import format_time
from ledger.errors import InvalidRuleParams
from rules.base import AccountView, Close, Decision, DecisionContext, MarketRates, ParamDoc, PositionView, equity
from rules.flat import FEE, FLAT_MARKETS, FlatRateModel
from rules.params import check_keys, fee_rate, market_rates, parse_rate
from rules.sizing import round_up_to_lot
from rules.walk import walk

__all__ = ["RULE", "SteppedParams"]

_MICROSECONDS = Decimal(1_000_000)


@frozen
class SteppedParams:
    liquidation_fee_rate: Decimal
    markets: Mapping[str, MarketRates]
    partial_threshold_notional: Decimal
    step_fraction: Decimal
    cooldown: timedelta
    cooldown_seconds: Decimal
    backstop_ratio: Decimal
    target_buffer: Decimal = ZERO
    """none: a decision restores E >= MM (the flat model's target with b = 0)"""


class SteppedV1(FlatRateModel):
    """The flat-rate margin model (``rules.flat``) with stepped closes, a cooldown and a backstop."""

    name = "stepped-v1"
    may_leave_distressed: str | None = (
        "one step closes a fixed fraction; a scope still distressed is stepped again at the next mark")
    summary = "step down large positions by a fixed fraction with a cooldown; backstop below β·MM closes all, keeping the margin"
    parameters: tuple[ParamDoc, ...] = (
        FEE,
        FLAT_MARKETS,
        ParamDoc("partial_threshold_notional", "T: positions above this notional are stepped down, the rest closed whole",
                 "> 0"),
        ParamDoc("step_fraction", "φ: the share of a position one step closes (rounded up to the lot)", "0 < φ <= 1"),
        ParamDoc("cooldown_seconds", "C: after a partial close, positions of the account are closed whole for C seconds",
                 ">= 0, to the microsecond"),
        ParamDoc("backstop_ratio", "β: below E < β·MM every position closes and the margin left goes to the fund",
                 "0 < β <= 1"),
    )

    def parse_params(self, raw: Mapping[str, Any]) -> SteppedParams:
        keys = {"liquidation_fee_rate", "markets", "partial_threshold_notional", "step_fraction", "cooldown_seconds",
                "backstop_ratio"}
        raw = check_keys(raw, keys)
        missing = sorted(keys - set(raw))
        if missing:
            raise InvalidRuleParams(f"params is missing {', '.join(missing)}")
        threshold, fraction = parse_rate(raw, "partial_threshold_notional", ""), parse_rate(raw, "step_fraction", "")
        seconds, ratio = parse_rate(raw, "cooldown_seconds", ""), parse_rate(raw, "backstop_ratio", "")
        if threshold <= 0:
            raise InvalidRuleParams("params.partial_threshold_notional must be > 0")
        if not 0 < fraction <= 1:
            raise InvalidRuleParams("params.step_fraction must be in (0, 1]")
        if seconds < 0 or (seconds * _MICROSECONDS) % 1 != 0 or seconds > 10**9:
            raise InvalidRuleParams("params.cooldown_seconds must be >= 0 (at most 10^9), to the microsecond")
        if not 0 < ratio <= 1:
            raise InvalidRuleParams("params.backstop_ratio must be in (0, 1]")
        cooldown = timedelta(microseconds=int(seconds * _MICROSECONDS))
        return SteppedParams(fee_rate(raw), MappingProxyType(market_rates(raw)), threshold, fraction, cooldown, seconds, ratio)

    def cooling(self, params: SteppedParams, context: DecisionContext) -> bool:
        last = context.last_partial_close
        return last is not None and last < context.at < last + params.cooldown

    def decide(self, account: AccountView, params: Any, context: DecisionContext) -> Decision:
        if equity(account) < params.backstop_ratio * self.maintenance(account, params):
            def backstop(position: PositionView, _equity: Decimal, _mm: Decimal, _: Any) -> _Choice:
                return abs(position.size), None, "backstop: E < β·MM, every position closes and the margin left is kept"

            return walk(account, params, context.insurance_fund, backstop, self, ZERO, forfeit_last=True)
        cooling = self.cooling(params, context)
        since = format_time(context.last_partial_close) if cooling and context.last_partial_close else ""

        def step(position: PositionView, equity_now: Decimal, mm: Decimal, _: Any) -> _Choice:
            if equity_now >= mm:
                return None
            size = abs(position.size)
            if size * position.mark <= params.partial_threshold_notional:
                return size, None, "whole: notional at or below the partial threshold"
            if cooling:
                return size, None, f"whole: cooling down after the partial close at {since}"
            exact = params.step_fraction * size
            qty = round_up_to_lot(exact, position.lot_size)
            if qty >= size:
                return size, exact, "whole: the step reaches the whole position"
            return qty, exact, f"step: {to_str(params.step_fraction)} of a position above the partial threshold"

        return walk(account, params, context.insurance_fund, step, self, ZERO)

    def explain(self, account: AccountView, params: Any, close: Close) -> dict[str, str]:
        position = next(p for p in account.positions if p.market == close.market)
        notional = abs(position.size) * position.mark
        figures = {
            "f": to_str(params.liquidation_fee_rate), "T": to_str(params.partial_threshold_notional),
            "phi": to_str(params.step_fraction), "C": to_str(params.cooldown_seconds), "beta": to_str(params.backstop_ratio),
            "notional": to_str(notional),
        }
        if close.reason.startswith("backstop"):
            text = (f"backstop: E = {to_str(close.equity_before)} < β·MM = {to_str(params.backstop_ratio)}·"
                    f"{to_str(close.maintenance_before)} at the decision's start: every position closes whole")
            return {"formula": text, "result": f"closed {to_str(close.qty)}, penalty {to_str(close.penalty)}", **figures}
        text = (f"E = {to_str(close.equity_before)} < MM = {to_str(close.maintenance_before)}; notional |s|·p = "
                f"{to_str(notional)} vs T = {to_str(params.partial_threshold_notional)}; q = φ·|s| rounded up to the lot "
                f"{to_str(position.lot_size)} when above T and not cooling down (C = {to_str(params.cooldown_seconds)} s)")
        return {"formula": text, "result": f"{close.reason}: closed {to_str(close.qty)}", **figures}


_Choice = tuple[Decimal, Decimal | None, str] | None

RULE = SteppedV1()
