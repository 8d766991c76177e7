"""The index's arithmetic, made cheaper, gives the very figures of the definitions it stands for.

The liquidation index asks the version for an account's triggers at nearly
every fill. Two shortcuts serve it: ``rules.margin.scope_buffer`` sums E − MM in one
pass (the steps of equity and maintenance, side by side, in the exact
context's own methods), and ``rules.triggers`` keeps each market's ``1 − m``
and ``1 + m`` once per params object instead of computing them per position.
Both must give the same ``Decimal``, down to its exponent (a trigger's digits
decide nothing, but the index is held byte-identical across changes, and a
what-if compares its own). Generated views reach the digits the ledger
stores: inputs of 18 places, entry prices averaged to 60 significant digits.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.money import arithmetic
from rules import margin
from rules.base import scope_positions
from rules.flat import _flat_bounds
from rules.params import parse_params
from rules.triggers import share_triggers
from tests.support.scopes import accounts, formula_triggers


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
    """``margin.scope_buffer`` of a view's cash and positions is E − MM as ``equity`` and ``maintenance`` give them, value and exponent, whatever context
    the caller runs in."""
    account, params = case
    with arithmetic():
        expected = margin.equity(account) - margin.maintenance(account, params)
    got = margin.scope_buffer(account.cash, scope_positions(account), params)  # in no context of the caller's: the default one holds 28 digits
    assert str(got) == str(expected)


@settings(max_examples=400, deadline=None)
@given(views())
def test_triggers_from_kept_slopes_are_the_formula_s(case):
    """The module docstring's formula, ``1 − m`` computed where it is used (as before the slopes were kept)."""
    account, params = case
    positions = scope_positions(account)
    buffer = margin.scope_buffer(account.cash, positions, params)
    got = share_triggers(positions, buffer, params, _flat_bounds)
    rate = {market: params.markets[market].maintenance_margin_rate for market in params.markets}
    assert [(market, long, str(price)) for market, long, price in got] == formula_triggers(account, buffer, rate)
