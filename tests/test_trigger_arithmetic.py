"""The index's arithmetic, made cheaper, gives the very figures of the definitions it stands for.

The liquidation index asks the version for an account's triggers at nearly
every fill. Two shortcuts serve it: ``rules.margin.buffer`` sums E − MM in one
pass (the steps of equity and maintenance, side by side, in the exact
context's own methods), and ``rules.triggers`` keeps each market's ``1 − m``
and ``1 + m`` once per params object instead of computing them per position.
Both must give the same ``Decimal``, down to its exponent (a trigger's digits
decide nothing, but the index is held byte-identical across changes, and a
what-if compares its own). Generated views reach the digits the ledger
stores: inputs of 18 places, entry prices averaged to 60 significant digits.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Context

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.money import arithmetic
from rules import margin
from rules.flat import _flat_bounds
from rules.params import parse_params
from rules.triggers import buffer_share_triggers
from tests.support.scopes import accounts, formula_triggers

_UP = Context(prec=40, rounding=ROUND_CEILING)
_DOWN = Context(prec=40, rounding=ROUND_FLOOR)


@st.composite
def views(draw):
    account, rate = draw(accounts())
    raw = {"liquidation_fee_rate": "0.002", "target_buffer": "0.25",
           "markets": {m: {"maintenance_margin_rate": str(r), "initial_margin_rate": str(min(1, r * 2))}
                       for m, r in rate.items()}}
    params, _ = parse_params(raw, buffer_required=True)
    return account, params


@settings(max_examples=400, deadline=None)
@given(views())
def test_the_one_pass_buffer_is_equity_less_maintenance_to_the_digit(case):
    """``margin.buffer`` is E − MM as ``equity`` and ``maintenance`` give them, value and exponent, whatever context
    the caller runs in."""
    account, params = case
    with arithmetic():
        expected = margin.equity(account) - margin.maintenance(account, params)
    got = margin.buffer(account, params)  # in no context of the caller's: the default one holds 28 digits
    assert str(got) == str(expected)


@settings(max_examples=400, deadline=None)
@given(views())
def test_triggers_from_kept_slopes_are_the_formula_s(case):
    """The module docstring's formula, ``1 − m`` computed where it is used (as before the slopes were kept)."""
    account, params = case
    buffer = margin.buffer(account, params)
    got = buffer_share_triggers(account, buffer, params, _flat_bounds)
    rate = {market: params.markets[market].maintenance_margin_rate for market in params.markets}
    assert [(t.market, t.long, str(t.price)) for t in got] == formula_triggers(account, buffer, rate)
