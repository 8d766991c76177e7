"""Trigger prices by buffer shares: how a version built on margin rates bounds each position.

For an account that is not distressed, its buffer B = E − MM > 0 is split into
equal shares, one per position. A mark on market X changes E − MM by at most
(s − |s|·m_lo)·Δp for a long (the price falling; m_lo the lowest marginal
maintenance rate the position can have) and (|s| + |s|·m_hi)·Δp for a short
(the price rising; m_hi the highest). So each position's trigger is the price
at which X alone would have used up its share:

    long:   trigger = p0 − share / (s·(1 − m_lo))       (distress possible at mark <= trigger)
    short:  trigger = p0 + share / (|s|·(1 + m_hi))     (distress possible at mark >= trigger)

While no market has moved past its trigger, the total change is below B and
the account cannot be distressed. With flat rates m_lo = m_hi = m. Triggers
round towards the mark side (up for longs, down for shorts), so the accounts
named are always a superset of the distressed ones. An account with no buffer
gets infinite triggers: checked at every mark.

A fill that takes part (or all) of a position off keeps its account's
triggers when ``reduction_keeps`` says so: see there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal, DecimalException
from typing import Any

from ledger.domain.money import EXACT_METHODS
from rules.base import ScopePosition
from rules.per_params import PerParams

__all__ = ["share_triggers", "RateTable", "reduction_keeps"]

_UP = Context(prec=40, rounding=ROUND_CEILING)
_DOWN = Context(prec=40, rounding=ROUND_FLOOR)
_ALWAYS_LONG = Decimal("Infinity")
_ALWAYS_SHORT = Decimal("-Infinity")

RateTable = Callable[[Any], dict[str, tuple[Decimal, Decimal]]]
"""params -> {market: (m_lo, m_hi)}: the lowest and highest marginal maintenance rate a position in it can have."""

def _derive_slopes(params: Any, table: RateTable) -> dict[str, tuple[Decimal, Decimal]]:
    """``1 − m`` and ``1 + m`` for a rate of at most 18 places: exact (``EXACT_METHODS`` traps an inexact step), as in
    any context they were."""
    return {market: (EXACT_METHODS.subtract(1, low), EXACT_METHODS.add(1, high))
            for market, (low, high) in table(params).items()}


_slopes: PerParams[RateTable, dict[str, tuple[Decimal, Decimal]]] = PerParams(_derive_slopes)
"""(params, table) -> {market: (1 − m_lo, 1 + m_hi)}: per unit of a position's size and of price, the most a long's
and a short's move can change E − MM by. Built once per params object (a re-index asks per account)."""


def share_triggers(positions: Sequence[ScopePosition], buffer: Decimal, params: Any,
                   table: RateTable) -> list[tuple[str, bool, Decimal]]:
    """One trigger per position of a scope whose buffer E − MM is ``buffer``, as a plain (market, long, price).

    One loop, no call per position: the liquidation index asks at every fill of every account that does not take a
    position down (``rules.base.ScopeTriggers``)."""
    if buffer <= 0:  # no buffer: distress is possible at any mark
        return [(market, True, _ALWAYS_LONG) if size > 0 else (market, False, _ALWAYS_SHORT)
                for market, size, _, _ in positions]
    slopes = _slopes(params, table)
    share = _DOWN.divide(buffer, len(positions))
    up_multiply, down_divide = _UP.multiply, _DOWN.divide
    triggers: list[tuple[str, bool, Decimal]] = []
    for market, size, _, mark in positions:
        long_slope, short_slope = slopes[market]
        if size > 0:
            triggers.append((market, True, _UP.subtract(mark, down_divide(share, up_multiply(size, long_slope)))))
        else:
            triggers.append((market, False, _DOWN.add(mark, down_divide(share, up_multiply(-size, short_slope)))))
    return triggers


def reduction_keeps(trigger: Decimal, is_long: bool, qty: Decimal, price: Decimal, fee: Decimal,
                    low_rate: Decimal) -> bool:
    """Whether a position's ``trigger`` still bounds its margin scope after a fill took ``qty`` of it off (at most
    all of it; the side stays) at ``price``, paying ``fee``: the scope's other triggers then stand too.

    Why: 39% of the benchmark history's fills take a position down, and
    recomputing the account's triggers at each was most of their cost in the
    liquidation index. The triggers promise that E − MM stays at or above
    zero (at or above the funding reserve they set aside) at every price they
    allow: each market at its trigger or on its safe side (the box). Over the
    box E − MM is least with the position's market at its trigger T. Such a
    fill changes E − MM, at a price p of that market, by
    ``qty·(price − p) − fee`` for a long (``qty·(p − price) − fee`` for a
    short: the fill's price against p, and its fee) plus the maintenance
    margin it frees, which is at least ``low_rate·qty·p`` when every marginal
    maintenance rate is at least ``low_rate``. After the fill, E − MM still
    rises as the price moves to the safe side (a long's slope is at least
    ``s'·(1 − m_hi)`` upwards, a short's ``|s'|·(1 + m_lo)`` downwards, with
    rates below 1), so over the box it is again least at T. So when the change
    at T is not negative, ``qty·(price − (1 − low_rate)·T) >= fee`` for a
    long (T taken as 0 when it is below: no price is) or
    ``qty·((1 + low_rate)·T − price) >= fee`` for a short, E − MM after the
    fill is nowhere in the box below its least value before, and the triggers
    stand: the accounts they name stay a superset of the distressed. (Not
    that E − MM is no lower at every price: a long sold below a rising mark
    has less there, which the box's least value does not mind.) The funding
    allowance is untouched: the reserve it draws on is part of that least
    value. An infinite trigger (no buffer) never stands: the scope is
    recomputed. Exact (the ledger's ``EXACT_METHODS``), or, past its
    precision, recomputed.
    """
    if trigger.is_infinite():
        return False
    exact = EXACT_METHODS
    try:
        if is_long:
            room = exact.subtract(price, exact.multiply(exact.subtract(1, low_rate), trigger)) if trigger > 0 else price
        else:
            room = exact.subtract(exact.multiply(exact.add(1, low_rate), trigger), price)
        return exact.multiply(qty, room) >= fee
    except DecimalException:  # past 120 digits (Inexact): recomputed instead
        return False
