"""The flat-rate margin model: one maintenance and one initial rate per market.

Shared by the versions that margin every position at its market's flat rates
(full-v1, partial-v1): maintenance and initial margin (``rules.margin``), the
distress test E < MM, the target (1 + b) × MM, the trigger prices of the
liquidation index, and the explanation of a close by the partial formula. A
version built on this model subclasses ``FlatRateModel`` and adds its
``parse_params`` and ``decide``.

Trigger prices. For an account that is not distressed, its buffer
B = E − MM > 0 is split into equal shares, one per position. A mark on market
X changes E − MM by (s − |s|·m)·Δp: for a long it falls as the price falls,
for a short as it rises. So each position's trigger is the price at which X
alone would have used up its share:

    long:   trigger = p0 − share / (s·(1 − m))       (distress possible at mark <= trigger)
    short:  trigger = p0 + share / (|s|·(1 + m))     (distress possible at mark >= trigger)

While no market has moved past its trigger, the total change is below B and
the account cannot be distressed. Triggers round towards the mark side (up
for longs, down for shorts), so the accounts named are a superset of the
distressed ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal

from ledger.domain.money import arithmetic, to_str
from rules import margin
from rules.base import AccountView, Close, Params, PositionView, Trigger

__all__ = ["FlatRateModel"]

_UP = Context(prec=40, rounding=ROUND_CEILING)
_DOWN = Context(prec=40, rounding=ROUND_FLOOR)
_ALWAYS_LONG = Decimal("Infinity")
_ALWAYS_SHORT = Decimal("-Infinity")


class FlatRateModel:
    """Margin, distress, target, triggers and explanation at flat per-market rates (params: ``rules.base.Params``)."""

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

    def is_distressed(self, account: AccountView, params: Params) -> bool:
        return margin.is_distressed(account, params)

    def target(self, account: AccountView, params: Params) -> Decimal:
        return (1 + params.target_buffer) * margin.maintenance(account, params)

    def triggers(self, account: AccountView, params: Params) -> Sequence[Trigger]:
        with arithmetic():
            buffer = margin.equity(account) - margin.maintenance(account, params)
        share = _DOWN.divide(buffer, len(account.positions)) if buffer > 0 else None
        return [
            _trigger(p.market, p.size, p.mark, params.markets[p.market].maintenance_margin_rate, share)
            for p in account.positions
        ]

    def explain(self, account: AccountView, params: Params, close: Close) -> dict[str, str]:
        """The partial formula with the figures of ``close`` filled in (full-v1: b = 0, and no partial quantity)."""
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


def _trigger(market: str, size: Decimal, price: Decimal, rate: Decimal, share: Decimal | None) -> Trigger:
    if size > 0:
        if share is None:
            return Trigger(market, True, _ALWAYS_LONG)
        return Trigger(market, True, _UP.subtract(price, _DOWN.divide(share, _UP.multiply(size, 1 - rate))))
    if share is None:
        return Trigger(market, False, _ALWAYS_SHORT)
    return Trigger(market, False, _DOWN.add(price, _DOWN.divide(share, _UP.multiply(-size, 1 + rate))))
