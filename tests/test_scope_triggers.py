"""A version's plain triggers (``rules.base.ScopeTriggers``) are its triggers, to the digit.

The liquidation index asks a version that has ``scope_triggers`` for it
instead of ``triggers`` (``ledger.engine.candidates``), so the two must give
the same triggers: the same markets and sides in the same order, and the same
prices down to their exponents. Generated scopes reach the digits the ledger
stores (inputs of 18 places, entry prices averaged to 60 significant digits),
with no buffer, a thin one and a wide one, each version parsing its own params.
"""

from __future__ import annotations

from hypothesis import given, settings

from ledger.domain.money import arithmetic
from rules import registry
from rules.base import equity, scope_positions
from tests.support.scopes import accounts, formula_triggers, version_params

PLAIN = sorted(name for name in registry.names() if hasattr(registry.get(name), "scope_triggers"))


def test_every_shipped_version_gives_plain_triggers():
    """The four shipped versions are asked for plain triggers: partial-v1, full-v1 and stepped-v1 through the
    flat-rate model, tiered-v1 on its own. A version added later may leave them out (the index then builds views);
    the check below covers whichever have them."""
    assert {"partial-v1", "full-v1", "stepped-v1", "tiered-v1"} <= set(PLAIN)


@settings(max_examples=400, deadline=None)
@given(accounts())
def test_plain_triggers_are_the_version_s_triggers_to_the_digit(case):
    """For every registered version that has ``scope_triggers``: the view's triggers, as plain tuples, whatever
    decimal context the caller runs in (the ledger's exact one, or the default). The shipped versions build their
    ``triggers`` on ``scope_triggers``, so for them this holds the conversion to views and back; what holds their
    figures is the formula test below (the flat-rate model) and their golden vectors (``tests/golden``, tiered-v1's
    triggers among them). A version computing the two apart is held here to both agreeing."""
    account, rate = case
    for name in PLAIN:
        version, params = registry.get(name), version_params(name, rate)
        expected = [(t.market, t.long, str(t.price)) for t in version.triggers(account, params)]
        for context in (arithmetic, None):
            if context is None:
                got = version.scope_triggers(account.cash, scope_positions(account), params)  # type: ignore[attr-defined]  # PLAIN have it
            else:
                with context():
                    got = version.scope_triggers(account.cash, scope_positions(account), params)  # type: ignore[attr-defined]  # PLAIN have it
            assert [(market, long, str(price)) for market, long, price in got] == expected, name
            assert all(type(trigger) is tuple for trigger in got), "plain tuples: the collector stops tracking them"


@settings(max_examples=300, deadline=None)
@given(accounts())
def test_the_flat_rate_versions_plain_triggers_are_the_buffer_share_formula(case):
    """partial-v1, full-v1 and stepped-v1 share the flat-rate model, whose ``triggers`` is itself built on
    ``scope_triggers``: held here to ``rules.triggers``' formula, from the version's own ``maintenance`` and the
    shared ``equity`` (not the one-pass buffer), with ``1 − m`` and ``1 + m`` computed where they are used."""
    account, rate = case
    for name in ("partial-v1", "full-v1", "stepped-v1"):
        version, params = registry.get(name), version_params(name, rate)
        with arithmetic():
            buffer = equity(account) - version.maintenance(account, params)
        got = version.scope_triggers(account.cash, scope_positions(account), params)  # type: ignore[attr-defined]  # the flat model's
        expected = formula_triggers(account, buffer, {m: params.markets[m].maintenance_margin_rate for m in rate})
        assert [(market, long, str(price)) for market, long, price in got] == expected, name


@settings(max_examples=200, deadline=None)
@given(accounts())
def test_every_version_gives_one_trigger_per_open_position_on_its_side(case):
    """Every registered version, plain or through views: one trigger per open position, in its market, long for a
    long and short for a short, as ``rules.base.Trigger`` says. The index's books hold an account's one entry per
    market and side (``engine.trigger_books``) and refuse a second, so a version giving two would stop an ingest."""
    account, rate = case
    expected = sorted((p.market, p.size > 0) for p in account.positions if p.size != 0)
    for name in registry.names():
        version, params = registry.get(name), version_params(name, rate)
        assert sorted((t.market, t.long) for t in version.triggers(account, params)) == expected, name
        if name in PLAIN:
            got = version.scope_triggers(account.cash, scope_positions(account), params)  # type: ignore[attr-defined]  # PLAIN have it
            assert sorted((market, long) for market, long, _ in got) == expected, name
