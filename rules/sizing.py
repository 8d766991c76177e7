"""How much to close: the partial-liquidation formula.

Closing q at the mark p leaves equity unchanged except for the penalty
f·q·p, and lowers maintenance by q·p·m. The smallest q with
E − f·q·p >= (1+b)·(MM − q·p·m) is

    q >= ((1+b)·MM − E) / (p·((1+b)·m − f))

When (1+b)·m <= f, closing more never helps (each unit closed costs more
penalty than the margin it frees): there is no such q.
"""

from __future__ import annotations

from decimal import Decimal

from ledger.domain.money import ZERO, ceil_to_step, divide

__all__ = ["required_qty", "round_up_to_lot"]


def required_qty(
    equity: Decimal, maintenance: Decimal, mark: Decimal, maintenance_rate: Decimal, fee_rate: Decimal, buffer: Decimal
) -> Decimal | None:
    """The exact (unrounded) q; ``None`` when no partial close can restore the target."""
    factor = (1 + buffer) * maintenance_rate - fee_rate
    if factor <= 0:
        return None
    shortfall = (1 + buffer) * maintenance - equity
    if shortfall <= 0:
        return ZERO
    return divide(shortfall, mark * factor)


def round_up_to_lot(qty: Decimal, lot_size: Decimal) -> Decimal:
    """Rounded UP to the lot grid: rounding down would leave the account short of target."""
    return ceil_to_step(qty, lot_size)
