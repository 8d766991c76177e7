"""Position arithmetic for linear perpetuals: fills, average entry, realized PnL.

A fill in the direction of the position grows it at a size-weighted average
entry price; a fill against it realizes ``closed × (price − entry)`` (sign of
the position) and keeps the entry; a fill larger than the position flips it,
the remainder opening at the fill price. A flat position has entry 0.
Funding paid is the position's since it was opened: it carries through fills
that grow or reduce it, and starts again at zero when a fill closes or flips it
(``funding_carried``).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from ledger.domain.money import DIVISION, ZERO, divide
from ledger.domain.state import Position

__all__ = ["fill", "apply_fill", "unrealized_pnl", "closing_side", "funding_carried", "ENTRY_PRICE_QUANTUM"]

ENTRY_PRICE_QUANTUM = Decimal("1E-12")
"""Average entry prices are kept to 12 decimal places, rounded half-even.

The average of fills at different prices is usually not a finite decimal;
rounding it once, by a named rule, keeps every later PnL figure exact and
replays identical everywhere (the error is below 1e-12 per unit of size).
"""


_ONE, _MINUS_ONE = Decimal(1), Decimal(-1)
"""The sign of a position as a factor (the same product as multiplying by the int)."""

def closing_side(size: Decimal) -> str:
    """The side of a fill that reduces a position of this sign."""
    return "sell" if size > 0 else "buy"


def fill(
    size: Decimal, entry: Decimal, side: str, qty: Decimal, price: Decimal
) -> tuple[Decimal, Decimal, Decimal | None]:
    """(size, entry price, realized PnL) after a fill; realized is None when the fill only grew the position.

    The arithmetic both the reference fold and the replay fast path use.
    """
    buy = side == "buy"
    new_size = size + qty if buy else size - qty
    if not size or (size > ZERO) == buy:  # opens or grows the position
        exact = divide(abs(size) * entry + qty * price, abs(new_size))
        rounded = exact.quantize(ENTRY_PRICE_QUANTUM, ROUND_HALF_EVEN, DIVISION)  # the named rounding, never trapped
        return new_size, (exact if exact == rounded else rounded), None  # keep "60000", not "60000.000000000000"
    held = abs(size)
    closed = held if held < qty else qty  # min(qty, held): qty itself when equal, as min() would
    realized = closed * (price - entry) * (_ONE if size > ZERO else _MINUS_ONE)
    if not new_size:
        return new_size, ZERO, realized
    return new_size, (entry if (new_size > ZERO) == (size > ZERO) else price), realized


def funding_carried(before: Decimal, after: Decimal, paid: Decimal) -> Decimal:
    """Funding paid that stays with a position sized ``before`` once a fill makes it ``after`` (same sign: all of it)."""
    return paid if after and before and (after > ZERO) == (before > ZERO) else ZERO


def apply_fill(position: Position, side: str, qty: Decimal, price: Decimal) -> tuple[Position, Decimal]:
    """The position after a fill, and the PnL the fill realized."""
    assert qty > 0 and price > 0, "fills have positive quantity and price"
    size, entry, realized = fill(position.size, position.entry_price, side, qty, price)
    funding = funding_carried(position.size, size, position.funding_paid)
    if realized is None:
        return Position(size, entry, position.realized_pnl, funding), ZERO
    return Position(size, entry, position.realized_pnl + realized, funding), realized


def unrealized_pnl(position: Position, mark: Decimal | None) -> Decimal:
    if position.size == 0 or mark is None:
        return ZERO
    return position.size * (mark - position.entry_price)
