"""Decimal discipline for money, prices and quantities.

Every figure is a ``Decimal`` parsed from a plain decimal string. Floats never
enter: JSON floats are refused at the codec, and ``FloatOperation`` is trapped
in the arithmetic context so an accidental float mix raises instead of
rounding silently. Additions and multiplications of validated inputs are exact
in ``CONTEXT`` (60 significant digits, inputs limited to ``MAX_DIGITS``);
the only inexact operations are the few divisions, which name their rounding.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import (
    ROUND_CEILING,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    FloatOperation,
    InvalidOperation,
    Overflow,
    localcontext,
)

from ledger.errors import InvalidEvent

__all__ = [
    "CONTEXT",
    "MAX_DIGITS",
    "ZERO",
    "arithmetic",
    "parse_decimal",
    "to_str",
    "ceil_to_step",
    "divide",
    "is_multiple",
]

MAX_DIGITS = 30
"""Most significant digits an input figure may carry (keeps products exact)."""

CONTEXT = Context(
    prec=60,
    rounding=ROUND_HALF_EVEN,
    traps=[FloatOperation, InvalidOperation, DivisionByZero, Overflow],
)
ZERO = Decimal(0)

_DECIMAL_RE = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?")


@contextmanager
def arithmetic() -> Iterator[Context]:
    """Run a block of ledger arithmetic in the strict context."""
    with localcontext(CONTEXT) as ctx:
        yield ctx


def parse_decimal(text: object, field: str) -> Decimal:
    """Parse a plain decimal string (``"-12.50"``); refuse anything else.

    Refused: non-strings (floats, ints, null), exponents (``"1e3"``), NaN and
    Infinity, signs other than a leading ``-``, empty strings, and figures with
    more than ``MAX_DIGITS`` significant digits.
    """
    if not isinstance(text, str):
        raise InvalidEvent(f"{field} must be a decimal string, got {type(text).__name__} {text!r}")
    if not _DECIMAL_RE.fullmatch(text):
        raise InvalidEvent(f"{field} is not a plain decimal string: {text[:60]!r}")
    digits = len(text.lstrip("-").replace(".", "").lstrip("0"))
    if digits > MAX_DIGITS:
        raise InvalidEvent(f"{field} has {digits} significant digits, at most {MAX_DIGITS} are allowed")
    return Decimal(text)


def to_str(value: Decimal) -> str:
    """Fixed-point text of a decimal, never scientific notation."""
    text = format(value, "f")
    return "0" if text in ("-0", "") else text


divide = CONTEXT.divide
"""``divide(numerator, denominator)``: division in the strict context (60 digits, half-even), the only inexact step.

The context's own method rather than a wrapper around it: every replayed fill calls it.
"""


def ceil_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Smallest multiple of ``step`` that is >= ``value`` (rounding UP, named)."""
    steps = CONTEXT.divide(value, step).to_integral_value(rounding=ROUND_CEILING)
    return CONTEXT.multiply(steps, step)


def is_multiple(value: Decimal, step: Decimal) -> bool:
    """Whether ``value`` lies exactly on the grid of ``step``."""
    return CONTEXT.remainder(value, step) == 0
