"""What every loss-allocation policy shares: the counterparties it sees, the fills it returns, exact lot arithmetic.

A policy allocates one market's residual ``R_m`` of one bankruptcy: the
bankrupt scope had ``Q`` closed in that market at mark ``P``, so each unit
closed carries a haircut ``h = R_m / Q`` (exactly: a ``Fraction``, never a
rounded quotient). A counterparty fill closes ``x`` (a whole number of lots,
at most its position and at most ``floor_lot(E / h)``, so no scope goes below
zero) of an opposite position at ``P``, and pays ``x·h`` rounded down to the
cash quantum. What no fill places stays in the liquidation inventory
(``unfilled``); what no haircut pays is socialized.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Context, Decimal, localcontext
from fractions import Fraction
from typing import Any, Protocol

from attrs import frozen

from ledger.domain.money import parse_decimal, to_str
from ledger.errors import InvalidEvent, InvalidRuleParams

__all__ = [
    "Counterparty", "Fill", "Allocation", "CASH_QUANTUM", "LossPolicy", "PolicyDoc", "QuantumParams", "exact",
    "terminating", "rounded", "floor_to", "parse_quantum", "check_policy_keys", "SOCIALIZE",
]


@frozen
class Counterparty:
    """One position on the side opposite the bankrupt one, in the margin scope that holds it.

    ``scope`` is "" for the account's cross margin, or the market for an
    isolated position; ``size`` is signed (+ long), ``equity`` the scope's
    equity at the current marks before this allocation, ``lot`` the market's.
    """

    account: str
    scope: str
    size: Decimal
    entry: Decimal
    equity: Decimal
    lot: Decimal


@frozen
class Fill:
    """A counterparty closes ``qty`` (> 0) at the mark and pays ``haircut``; ``basis`` is its score (ranked) or weight
    (pro-rata) as text, ``rank`` its place (1 first)."""

    account: str
    scope: str
    qty: Decimal
    haircut: Decimal
    basis: str
    rank: int


@frozen
class Allocation:
    """One market's allocation: the fills in the order they are recorded, the quantity left unfilled, and what no
    haircut paid (socialized)."""

    fills: tuple[Fill, ...]
    unfilled: Decimal
    socialized: Decimal

    @classmethod
    def of(cls, fills: Sequence[Fill], closed: Decimal, residual: Decimal) -> Allocation:
        """``fills`` of ``residual`` over ``closed``: what they leave unfilled and unpaid, exactly."""
        paid = sum((Fraction(f.haircut) for f in fills), Fraction(0))
        filled = sum((Fraction(f.qty) for f in fills), Fraction(0))
        return cls(tuple(fills), terminating(Fraction(closed) - filled), terminating(Fraction(residual) - paid))


@frozen
class PolicyDoc:
    name: str
    meaning: str
    range: str


CASH_QUANTUM = PolicyDoc("cash_quantum", "the unit of cash ADL moves (haircuts are whole quanta, rounded down)",
                         "a power of ten: 0.00000001, 0.01, 1, 10")
"""The parameter every ADL policy takes."""


@frozen
class QuantumParams:
    """The params every ADL policy takes: ``cash_quantum``, a power of ten; ``extra`` what a policy adds."""

    cash_quantum: Decimal
    extra: Mapping[str, Any]


_WIDE = Context(prec=200)
"""Room for any whole number of quanta of a bounded figure: a product here is never rounded."""

SOCIALIZE = "socialize"
"""The kind of a policy that books the residual as a socialized loss and makes no fill."""


class LossPolicy(Protocol):
    """The shape every registered loss-allocation policy has."""

    name: str
    summary: str
    kind: str
    """``SOCIALIZE``, or ``"adl"`` for one that makes fills"""
    parameters: tuple[PolicyDoc, ...]

    def parse_params(self, raw: Mapping[str, Any]) -> Any:
        """The policy's typed params; ``InvalidRuleParams`` naming the key for anything off-shape or out of range."""
        ...

    def allocate(self, residual: Decimal, closed: Decimal, mark: Decimal, counterparties: Sequence[Counterparty],
                 params: Any) -> Allocation:
        """Fills for ``residual`` over ``closed`` at ``mark`` against ``counterparties`` (already eligible)."""
        ...

    def quantiles(self, mark: Decimal, positions: Sequence[Counterparty], params: Any) -> dict[tuple[str, str], int]:
        """(account, scope) -> its place in the queue, 1 (first) to 5, for positions of one side; empty when the
        policy has no queue."""
        ...


def exact(value: Decimal) -> Fraction:
    return Fraction(value)


def terminating(value: Fraction) -> Decimal:
    """``value`` as a decimal, exactly: its denominator must divide a power of ten (sums, products and differences of
    decimals, and whole numbers of a quantum, always do)."""
    rest, places = value.denominator, 0
    for prime in (2, 5):
        count = 0
        while rest % prime == 0:
            rest, count = rest // prime, count + 1
        places = max(places, count)
    assert rest == 1, f"{value} has no exact decimal"
    scaled = value.numerator * 10**places // value.denominator
    sign = 1 if scaled < 0 else 0
    return Decimal((sign, tuple(int(d) for d in str(abs(scaled))), -places))


def rounded(value: Fraction, places: int) -> str:
    """``value`` rounded half-even to ``places`` decimals, as text (for a record; comparisons use the fraction)."""
    scaled = round(value * 10**places)
    sign = 1 if scaled < 0 else 0
    return to_str(Decimal((sign, tuple(int(d) for d in str(abs(scaled))), -places)))  # never an exponent


def floor_to(value: Fraction, quantum: Decimal) -> Decimal:
    """``value`` rounded down to a whole number of ``quantum`` (a lot or the cash quantum), exactly, at the quantum's
    places (a quantity of 0.1 lots reads ``4.0``)."""
    with localcontext(_WIDE):
        return quantum * (value // Fraction(quantum))


def check_policy_keys(raw: object, allowed: set[str], required: set[str]) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise InvalidRuleParams("params must be an object")
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise InvalidRuleParams(f"params has unknown key(s) for this policy: {', '.join(unknown)}")
    missing = sorted(required - set(raw))
    if missing:
        raise InvalidRuleParams(f"params is missing {', '.join(missing)}")
    return raw


def parse_quantum(raw: Mapping[str, Any]) -> Decimal:
    """``cash_quantum``: a power of ten (``0.01``, ``0.00000001``, ``1``, ``10``), the unit ADL moves cash in."""
    try:
        quantum = parse_decimal(raw["cash_quantum"], "params.cash_quantum")
    except InvalidEvent as exc:
        raise InvalidRuleParams(exc.reason) from None
    if quantum <= 0 or quantum.normalize().as_tuple().digits != (1,):
        raise InvalidRuleParams(f"params.cash_quantum must be a power of ten (0.01, 1, 10, ...), got {raw['cash_quantum']}")
    return quantum
