"""Liquidation prices: the mark of one market at which an account would first be distressed.

For the versions whose distress test is E < MM, with every other mark held
still, g(p) = E(p) − MM(p) is a function of the one mark p:

    E(p)  = cash + Σ_other upnl + s·(p − entry)
    MM(p) = Σ_other MM + MM_position(|s|·p)

MM of the position is piecewise linear in p (flat rates: one piece; tiered
margin: one piece per bracket, edges at max_notional / |s|) and continuous, so
g is piecewise linear. For a long g rises with p (slope s·(1 − marginal rate)
> 0), for a short it falls: the account is distressed below the root for a
long, above it for a short, and safe at the root itself (E = MM is not
distressed). The root is found exactly: the piece holding it is bracketed by
evaluating g at the edges, and inside one piece g is a line, so two exact
evaluations give it and one division gives the root, rounded toward the side
that liquidates earlier (up for a long, down for a short); a root that is a
short decimal (at most 30 significant digits) comes out exactly.

None when no price can distress the position: a long whose margin covers its
whole notional (g(0) >= 0), or a short already distressed at every price.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal
from typing import Any

from attrs import evolve

from ledger.domain.money import ZERO, arithmetic, divide
from rules.base import AccountView, PositionView, equity

__all__ = ["liquidation_price", "linear_liquidation_price", "Maintenance"]

Maintenance = Callable[[AccountView, Any], Decimal]
"""(account, params) -> the account's maintenance margin at its positions' marks."""

_UP = Context(prec=60, rounding=ROUND_CEILING)
_DOWN = Context(prec=60, rounding=ROUND_FLOOR)
_WIDE = Context(prec=200)
"""Wide enough that the product of two 60-digit figures is exact: only the final division and subtraction round."""
_THIRD = Decimal(3)
_SHORT = Context(prec=30)
"""Roots that are short decimals are returned exactly: the figure at ``MAX_DIGITS`` digits is tried first (a gap
evaluated there is exact)."""


def liquidation_price(
    account: AccountView, market: str, params: Any, maintenance: Maintenance, edges: Sequence[Decimal] = (),
) -> Decimal | None:
    """The root of E − MM in ``market``'s mark (see the module docstring); ``edges``: the notionals where the
    position's maintenance changes slope (its bracket edges), empty for a flat rate."""
    position = next((p for p in account.positions if p.market == market and p.size != 0), None)
    if position is None:
        return None
    long = position.size > 0
    size = abs(position.size)

    def gap(price: Decimal) -> Decimal:
        moved = tuple(evolve(p, mark=price) if p is position else p for p in account.positions)
        view = evolve(account, positions=moved)
        return equity(view) - maintenance(view, params)

    with arithmetic():
        at_zero = gap(ZERO)
        if (at_zero >= 0) if long else (at_zero < 0):
            return None  # a long nothing above zero distresses; a short distressed at every price
        if not edges:  # one piece: the line through p = 0 and the mark now (the view as it is, nothing to move)
            now = equity(account) - maintenance(account, params)
            root = _line_root(ZERO, at_zero, position.mark, now, long)
        else:
            bounds = sorted({divide(edge, size) for edge in edges if edge > 0})
            low, high = ZERO, None
            for bound in bounds:  # the first edge past the root closes the root's piece
                if (gap(bound) >= 0) if long else (gap(bound) < 0):
                    high = bound
                    break
                low = bound
            root = _root_in(gap, low, high, long)
        short = _SHORT.plus(root)  # an exact root with few digits (9000 / 0.9 = 10000): the division's last digit is noise
        return short if short == root or gap(short) == 0 else root


def linear_liquidation_price(position: PositionView, gap_now: Decimal, slope: Decimal) -> Decimal | None:
    """The same root when E − MM is one line in the mark: ``gap_now`` at the mark now, rising by ``slope`` per unit.

    For a version whose position maintenance is a flat rate m the slope is
    s − |s|·m; no view needs moving, so it costs one evaluation of E − MM.
    """
    long = position.size > 0
    with arithmetic():
        at_zero = gap_now - position.mark * slope
        if (at_zero >= 0) if long else (at_zero < 0):
            return None
        toward, away = (_UP, _DOWN) if long else (_DOWN, _UP)
        root = toward.subtract(position.mark, away.divide(gap_now, slope))
        short = _SHORT.plus(root)
        return short if short == root or gap_now + (short - position.mark) * slope == 0 else root


def _root_in(gap: Callable[[Decimal], Decimal], low: Decimal, high: Decimal | None, long: bool) -> Decimal:
    """The root of ``gap`` on the piece (low, high], where it is a line: through two points inside the piece."""
    if high is None:
        first, second = low + 1, low + 2
    else:
        step = divide(high - low, _THIRD)
        first, second = low + step, low + 2 * step
    return _line_root(first, gap(first), second, gap(second), long)


def _line_root(first: Decimal, g1: Decimal, second: Decimal, g2: Decimal, long: bool) -> Decimal:
    """Where the line through (first, g1) and (second, g2) crosses zero, rounded toward the earlier liquidation."""
    toward, away = (_UP, _DOWN) if long else (_DOWN, _UP)
    shift = away.divide(_WIDE.multiply(g1, _WIDE.subtract(second, first)), g2 - g1)  # root = first − shift
    return toward.subtract(first, shift)
