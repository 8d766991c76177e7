"""Decimal discipline for money, prices and quantities.

Every figure is a ``Decimal`` parsed from a plain decimal string. Floats never
enter: JSON floats are refused at the codec, and ``FloatOperation`` is trapped
in the arithmetic context so an accidental float mix raises instead of
rounding silently.

Inputs are bounded (``parse_decimal``): at most ``MAX_DIGITS`` significant
digits, ``MAX_PLACES`` decimal places and ``MAX_INTEGER_DIGITS`` digits before
the point. So every sum, difference and product the ledger forms from them
(three factors at most: size × price × funding rate) has at most about 80
significant digits, and ``CONTEXT`` (120 digits) holds it exactly: it traps
``Inexact``, so a posting can never be rounded away silently. The only
inexact operations are the few divisions (average entry price, liquidation
sizing), which go through ``divide`` (60 digits, half-even, named) and are
rounded only where the docs say.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from decimal import (
    ROUND_CEILING,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    FloatOperation,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)

from ledger.errors import InvalidEvent

__all__ = [
    "CONTEXT",
    "EXACT_METHODS",
    "MAX_DIGITS",
    "MAX_PLACES",
    "MAX_INTEGER_DIGITS",
    "DIVISION",
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
MAX_PLACES = 18
"""Most decimal places an input figure may carry (a deposit of 10^-71 would otherwise vanish in every sum)."""
MAX_INTEGER_DIGITS = 18
"""Most digits before the point: no amount, price or quantity reaches 10^18."""

CONTEXT = Context(
    prec=120,
    rounding=ROUND_HALF_EVEN,
    traps=[FloatOperation, InvalidOperation, DivisionByZero, Overflow, Inexact],
)
"""Sums and products: exact for bounded inputs, and an inexact one raises (it is a bug, never input)."""
EXACT_METHODS = CONTEXT.copy()
"""``CONTEXT``'s arithmetic called as methods (``EXACT_METHODS.add(a, b)``), without entering a context: for the hot
loops that must compute exactly whatever context their caller runs in (the liquidation index's buffer, the price
band; a context entered per call was 3% of an ingest). A copy, so the flags its steps raise never touch ``CONTEXT``;
never to be changed (its precision and traps are ``CONTEXT``'s, which its callers' exactness relies on)."""
DIVISION = Context(
    prec=60,
    rounding=ROUND_HALF_EVEN,
    traps=[FloatOperation, InvalidOperation, DivisionByZero, Overflow],
)
"""Divisions only: 60 significant digits, half-even; the one place a figure is rounded."""
ZERO = Decimal(0)

_WITHIN_EVERY_BOUND = min(MAX_PLACES, MAX_INTEGER_DIGITS)
"""A figure of at most this many characters has at most as many digits, before the point, after it or in all."""
_DECIMAL_RE = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?")


def arithmetic() -> AbstractContextManager[Context]:
    """Run a block of ledger arithmetic in the strict context: ``with arithmetic(): ...``.

    ``decimal``'s own context manager, returned as it is: the reference fold,
    the validators and the audit enter one per event, and a generator-based
    wrapper around it cost 2.5x as much per use (measured: 3.6 against 1.4 µs).
    """
    return localcontext(CONTEXT)


def parse_decimal(text: object, field: str, max_digits: int = MAX_DIGITS) -> Decimal:
    """Parse a plain decimal string (``"-12.50"``); refuse anything else.

    Refused: non-strings (floats, ints, null), exponents (``"1e3"``), NaN and
    Infinity, signs other than a leading ``-``, empty strings, and figures with
    more than ``max_digits`` significant digits, ``MAX_PLACES`` decimal places
    or ``MAX_INTEGER_DIGITS`` digits before the point (the last two only for
    inputs: ``max_digits`` is larger for what the engine derived).
    """
    if not isinstance(text, str):
        raise InvalidEvent(f"{field} must be a decimal string, got {type(text).__name__} {text!r}")
    if not _DECIMAL_RE.fullmatch(text):
        raise InvalidEvent(f"{field} is not a plain decimal string: {text[:60]!r}")
    if len(text) <= _WITHIN_EVERY_BOUND and len(text) <= max_digits:  # too short to break any bound below
        return Decimal(text)
    whole, _, places = text.lstrip("-").partition(".")
    digits = len((whole + places).lstrip("0"))
    if digits > max_digits:
        raise InvalidEvent(f"{field} has {digits} significant digits, at most {max_digits} are allowed")
    if max_digits == MAX_DIGITS:
        if len(places) > MAX_PLACES:
            raise InvalidEvent(f"{field} has {len(places)} decimal places, at most {MAX_PLACES} are allowed")
        if len(whole.lstrip("0")) > MAX_INTEGER_DIGITS:
            raise InvalidEvent(f"{field} is 10^{MAX_INTEGER_DIGITS} or more: no amount, price or quantity reaches that")
    return Decimal(text)


def to_str(value: Decimal) -> str:
    """Fixed-point text of a decimal, never scientific notation.

    ``str`` is that text already unless it chose scientific notation (an
    exponent above zero, or an adjusted exponent below -6: ``1E-7``) or wrote
    a negative zero, and it costs half of ``format(value, "f")``: every
    figure of every row an append writes, and of every snapshot, goes through
    here. Anything else (a context writing a small ``e``, a value that is not
    a ``Decimal``) takes ``format`` as before, and so fails or writes as it did.
    """
    text = str(value)
    if type(value) is Decimal and "E" not in text and "e" not in text and text != "-0":
        return text
    text = format(value, "f")
    return "0" if text in ("-0", "") else text


divide = DIVISION.divide
"""``divide(numerator, denominator)``: division in the division context (60 digits, half-even), the only inexact step.

The context's own method rather than a wrapper around it: every replayed fill calls it.
"""


def ceil_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Smallest multiple of ``step`` that is >= ``value`` (rounding UP, named)."""
    steps = DIVISION.divide(value, step).to_integral_value(rounding=ROUND_CEILING)
    return CONTEXT.multiply(steps, step)


def is_multiple(value: Decimal, step: Decimal) -> bool:
    """Whether ``value`` lies exactly on the grid of ``step``."""
    return CONTEXT.remainder(value, step) == 0
