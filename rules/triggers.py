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
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal
from typing import Any

from rules.base import AccountView, Trigger

__all__ = ["buffer_share_triggers", "rate_bounds"]

_UP = Context(prec=40, rounding=ROUND_CEILING)
_DOWN = Context(prec=40, rounding=ROUND_FLOOR)
_ALWAYS_LONG = Decimal("Infinity")
_ALWAYS_SHORT = Decimal("-Infinity")

RateBounds = Callable[[str], tuple[Decimal, Decimal]]
"""market -> (lowest, highest) marginal maintenance rate a position in it can have."""


_BOUNDS: dict[int, tuple[Any, RateBounds]] = {}
"""id(params) -> (params, its bounds): kept with the params object itself, so an id is never mistaken for another's."""


def rate_bounds(params: Any, table: Callable[[Any], dict[str, tuple[Decimal, Decimal]]]) -> RateBounds:
    """The bounds ``table`` derives from ``params``, built once per params object (a re-index asks per account).

    Parsed params live as long as the activation's cache entry; the table is
    built once for them instead of once per account re-indexed.
    """
    found = _BOUNDS.get(id(params))
    if found is None or found[0] is not params:
        if len(_BOUNDS) >= 256:
            _BOUNDS.clear()
        found = _BOUNDS[id(params)] = (params, table(params).__getitem__)
    return found[1]


def buffer_share_triggers(account: AccountView, buffer: Decimal, rates: RateBounds) -> list[Trigger]:
    """One trigger per open position of ``account``, whose buffer E − MM is ``buffer``.

    One loop, no call per position: the liquidation index asks at nearly every fill of every account."""
    positions = account.positions
    if buffer <= 0:  # no buffer: distress is possible at any mark
        return [Trigger(p.market, True, _ALWAYS_LONG) if p.size > 0 else Trigger(p.market, False, _ALWAYS_SHORT)
                for p in positions]
    share = _DOWN.divide(buffer, len(positions))
    triggers = []
    for p in positions:
        market, size = p.market, p.size
        low, high = rates(market)
        if size > 0:
            triggers.append(Trigger(market, True, _UP.subtract(p.mark, _DOWN.divide(share, _UP.multiply(size, 1 - low)))))
        else:
            triggers.append(Trigger(market, False, _DOWN.add(p.mark, _DOWN.divide(share, _UP.multiply(-size, 1 + high)))))
    return triggers
