"""A fill that takes a position down keeps its account's triggers only when they still stand.

The liquidation index keeps an account's triggers through such a fill when
the version in force says so (``rules.base.TriggerStands``), instead of
recomputing them. Kept triggers must still name the account at every mark
that could distress it. The triggers promise E − MM at or above what it is at
the least favourable prices they allow (each market at its trigger, or on its
safe side); a fill the version lets through must leave E − MM, at each of
those corners, at or above what it was with the fill's market at its trigger.
Generated scopes and fills (at the mark, near the trigger and anywhere, fees
and rebates) hold every registered version that answers to that; the index
cases check that an adverse fill is re-indexed and a harmless one kept, and
generated histories of fills taking positions down near distress check the
index against a full scan.
"""

from __future__ import annotations

from decimal import Context, Decimal
from itertools import product

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from ledger import InvalidBatch
from ledger.domain.money import arithmetic
from ledger.domain.state import LedgerState
from ledger.engine.candidates import LiquidationIndex
from ledger.engine.session import fold_batch
from rules import registry
from rules.base import AccountView, PositionView, equity
from rules.triggers import reduction_keeps
from tests.support.builders import deposit, listed, mark, rules, stepped, tiered, trade
from tests.support.scopes import MARKETS, accounts, inputs, version_params

STANDING = sorted(name for name in registry.names() if hasattr(registry.get(name), "trigger_stands"))
TINY = Decimal("1E-18")
"""The lowest price a long's corner is taken at when its trigger is at or below zero (no price is)."""


def test_every_shipped_version_answers_whether_its_triggers_stand():
    """The four shipped versions answer: partial-v1, full-v1 and stepped-v1 through the flat-rate model, tiered-v1 on
    its own. A version added later may leave it out (its accounts are then re-indexed at every fill)."""
    assert {"partial-v1", "full-v1", "stepped-v1", "tiered-v1"} <= set(STANDING)


venue_rates = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("0.05"), places=4)


@st.composite
def modest_accounts(draw: st.DrawFn) -> tuple[AccountView, dict[str, Decimal]]:
    """A venue's scope rather than the digits': one to three positions of 0.001 to 99.9 at marks of 10 to 999,000,
    entries within 10% of them, and cash leaving E − MM from nothing to about its notional; notionals about
    tiered-v1's first bracket edge (``version_params``), so fills there are decided at its lowest rate."""
    count = draw(st.integers(1, 3))
    positions = []
    for market in MARKETS[:count]:
        size = Decimal(draw(st.integers(1, 999))).scaleb(-draw(st.integers(1, 3))) * draw(st.sampled_from((1, -1)))
        mark_price = Decimal(draw(st.integers(100, 999))).scaleb(draw(st.integers(-1, 3)))
        entry = mark_price * draw(st.integers(900, 1100)) / 1000
        positions.append(PositionView(market, size, entry, mark_price, Decimal("0.001")))
    notional = sum(abs(p.size) * p.mark for p in positions)
    cash = notional * draw(st.integers(0, 1000)) / 1000
    return AccountView("a", "USD", cash, tuple(positions)), {market: draw(venue_rates) for market in MARKETS}


@st.composite
def reductions(draw: st.DrawFn) -> tuple[AccountView, dict[str, Decimal], int, Decimal, tuple[str, Decimal], Decimal]:
    """A scope, the position a fill takes down, how much of it (all, or part), the fill's price (at the mark, near
    it, anywhere, or near the position's trigger: a share of it, or a few of its market's maintenance rates off it,
    where the answer turns; resolved per version) and its fee (or rebate)."""
    account, rate = draw(st.one_of(accounts(), modest_accounts()))
    k = draw(st.integers(0, len(account.positions) - 1))
    held = abs(account.positions[k].size)
    qty = held if draw(st.booleans()) else draw(st.decimals(min_value=0, max_value=held, places=18))
    assume(qty > 0)
    mark_price = account.positions[k].mark
    price = draw(st.one_of(
        st.just(mark_price).map(lambda p: ("at", p)),
        inputs.filter(bool).map(lambda p: ("at", p)),
        st.integers(9000, 11000).map(lambda bp: ("at", mark_price * bp / 10000)),
        st.integers(9500, 10500).map(lambda bp: ("trigger", Decimal(bp) / 10000)),
        st.integers(-300, 300).map(lambda n: ("rates", Decimal(n) / 100)),
    ))
    fee = draw(st.one_of(st.just(Decimal(0)), st.decimals(min_value=-10, max_value=10 ** 4, places=18)))
    return account, rate, k, qty, price, fee


def _after(account: AccountView, k: int, qty: Decimal, price: Decimal, fee: Decimal) -> AccountView:
    """The scope after the fill: the PnL it realized and its fee in the cash, the position smaller (or gone)."""
    position = account.positions[k]
    sign = 1 if position.size > 0 else -1
    with arithmetic():
        cash = account.cash + qty * (price - position.entry_price) * sign - fee
        size = position.size - sign * qty
    positions = list(account.positions)
    if size:
        positions[k] = PositionView(position.market, size, position.entry_price, position.mark, position.lot_size)
    else:
        del positions[k]
    return AccountView(account.account, account.settle_asset, cash, tuple(positions))


def _at(account: AccountView, prices: dict[str, Decimal]) -> AccountView:
    return AccountView(account.account, account.settle_asset, account.cash, tuple(
        PositionView(p.market, p.size, p.entry_price, prices[p.market], p.lot_size) for p in account.positions))


def _buffer(version, account: AccountView, params) -> Decimal:
    with arithmetic():
        return equity(account) - version.maintenance(account, params)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(reductions())
@example((AccountView("a", "USD", Decimal(300), (PositionView("BTC-PERP", Decimal(1), Decimal(10000), Decimal(10000),
                                                               Decimal("0.001")),)),
          dict.fromkeys(MARKETS, Decimal("0.005")), 0, Decimal("0.5"), ("at", Decimal(9680)), Decimal(0)))
def test_a_fill_the_version_lets_through_leaves_e_minus_mm_no_lower_anywhere_the_triggers_allow(case):
    """For every registered version that answers: when it says the triggers stand, at every corner of the prices
    they allow (each market at its trigger or at its mark; a long's trigger at or below zero taken at a tiny price)
    E − MM after the fill is at or above E − MM before it with the fill's market at its trigger, which the
    triggers keep at or above zero. The corner with every market at its trigger is where the triggers leave no
    room, so a fill that costs anything there is caught. (The example: a long's trigger about 9,748.74 at 0.5%;
    half of it sold at 9,680 costs about 10 there, which the margin freed at tiered-v1's top rate would have
    hidden: the first bracket's is the one that holds below its edge.)"""
    account, rate, k, qty, (kind, figure), fee = case
    market, is_long = account.positions[k].market, account.positions[k].size > 0
    for name in STANDING:
        version, params = registry.get(name), version_params(name, rate)
        triggers = {t.market: t.price for t in version.triggers(account, params)}
        trigger = triggers[market]
        if kind == "rates":  # within a few maintenance rates of the trigger, where the answer turns
            figure = 1 - figure * rate[market]
        price = figure if kind == "at" else Context(prec=40).multiply(trigger, figure)
        if not price.is_finite() or price <= 0:
            continue
        if not version.trigger_stands(trigger, is_long, qty, price, fee, market, params):
            continue
        after = _after(account, k, qty, price, fee)
        assert all(t.is_finite() for t in triggers.values()), "a scope without a buffer is always recomputed"
        markets = [p.market for p in account.positions]
        choices = [[max(triggers[p.market], TINY) if p.size > 0 else triggers[p.market], p.mark]
                   for p in account.positions]
        for corner in product(*choices):
            prices = dict(zip(markets, corner, strict=True))
            before = _buffer(version, _at(account, {**prices, market: max(trigger, TINY) if is_long else trigger}),
                             params)
            assert before >= 0, (name, "the triggers' own promise")
            assert _buffer(version, _at(after, prices), params) >= before, (name, prices)


@settings(max_examples=200, deadline=None)
@given(trigger=inputs.filter(bool), qty=inputs.filter(bool), price=inputs.filter(bool), is_long=st.booleans(),
       low_rate=st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("0.5"), places=18),
       fee=st.decimals(min_value=-10, max_value=10 ** 4, places=18))
def test_whether_a_trigger_stands_is_the_margin_it_frees_against_the_fill_at_the_trigger(trigger, qty, price, is_long,
                                                                                         low_rate, fee):
    """``reduction_keeps`` is its docstring's inequality, written out with exact arithmetic: for a long
    ``qty·(price − (1 − m)·T) >= fee``, for a short ``qty·((1 + m)·T − price) >= fee``; an infinite trigger never
    stands."""
    with arithmetic():
        room = price - (1 - low_rate) * trigger if is_long else (1 + low_rate) * trigger - price
        expected = qty * room >= fee
    assert reduction_keeps(trigger, is_long, qty, price, fee, low_rate) is expected
    infinite = Decimal("Infinity") if is_long else Decimal("-Infinity")
    assert reduction_keeps(infinite, is_long, qty, price, fee, low_rate) is False
    assert reduction_keeps(-trigger, True, qty, price, fee, low_rate) is (qty * price >= fee), "no price is below 0"


FLAT = {"BTC-PERP": {"maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"}}


def _opening() -> list:
    """alice long 1 BTC at 10,000 on 300 of cash (E − MM 250 at the mark; her triggers, past a funding reserve of
    10, at about 9,758.8), bob the short with plenty."""
    return [listed(t=0), rules(version="partial-v1", fee="0.002", buffer="0.25", markets=FLAT, t=0.5),
            deposit("alice", "300", t=1, id="d-a"), deposit("bob", "100000", t=1, id="d-b"),
            trade("alice", "buy", "1", "10000", t=2, id="t-a"), trade("bob", "sell", "1", "10000", t=2, id="t-b"),
            mark("10000", t=3, id="k-0")]


def _run(events, index):
    state, made = LedgerState(), []
    for event in events:
        made += fold_batch(state, [(event.id, event)], index=index).to_append
    return state, [e for e in made if e.TYPE in ("liquidation", "bankruptcy")]


def _selling_half(at: str) -> list:
    return [trade("alice", "sell", "0.5", at, t=4, id="t-a2"), trade("bob", "buy", "0.5", at, t=4, id="t-b2")]


def test_a_fill_taking_a_long_down_at_a_ruinous_price_is_re_indexed_and_the_next_mark_liquidates():
    """alice sells half at 9,600 against a mark of 10,000: 200 realized, E − MM 75 at the mark and zero near 9,849,
    above the triggers she held. The version says they no longer stand, she is re-indexed, and the mark of 9,800
    liquidates her, as a full scan does; kept, her old triggers would have missed her."""
    events = _opening() + _selling_half("9600") + [mark("9800", t=5, id="k-1")]
    _, scanned = _run(events, None)
    assert [e.account for e in scanned][:1] == ["alice"], "the case distresses alice (not a vacuous comparison)"
    _, indexed = _run(events, LiquidationIndex())
    assert indexed == scanned
    always = LiquidationIndex()
    always._deciding = lambda in_force: (*LiquidationIndex._deciding(always, in_force)[:3],  # type: ignore[method-assign]  # a version that always says they stand
                                         lambda *args: True)
    assert _run(events, always)[1] != scanned, "the check is what re-indexes her"


def test_a_fill_taking_a_long_down_at_the_mark_keeps_its_account_s_triggers():
    """alice sells half at the mark: her triggers stand (the margin it frees costs nothing at them), so the index
    keeps the very entries it held, and still decides as a full scan at a mark past them."""
    index = LiquidationIndex()
    state, _ = _run(_opening(), index)
    held = index._entries["alice"]
    for event in _selling_half("10000"):
        fold_batch(state, [(event.id, event)], index=index)
    assert index._entries["alice"] is held
    later = [mark("9700", t=5, id="k-1"), mark("9000", t=6, id="k-2")]
    events = _opening() + _selling_half("10000") + later
    assert _run(events, LiquidationIndex())[1] == _run(events, None)[1]


def _near_distress_steps() -> st.SearchStrategy[list[tuple[str, str, str, str]]]:
    """Fills between alice and bob (mostly alice selling: her long, and bob's short, taken down, then turned) at
    prices about the mark, and marks about it, from 9,000 to 11,000: alice starts about 250 from distress, so these
    cross her triggers, and her liquidation price, often."""
    price = st.integers(9000, 11000).map(str)
    return st.lists(st.one_of(
        st.tuples(st.just("fill"), st.sampled_from(["sell", "sell", "buy"]),
                  st.sampled_from(["0.1", "0.2", "0.3", "0.7", "1.5"]), price),
        st.tuples(st.just("mark"), st.just(""), st.just(""), price),
    ), min_size=2, max_size=25)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=_near_distress_steps(), version=st.sampled_from(STANDING))
def test_fills_near_distress_are_decided_as_a_full_scan_decides(steps, version):
    """Generated fills between alice and bob (taking their positions down, turning them, growing them) and marks,
    near her distress: the index, keeping triggers where the version says they stand, decides the very events a
    full scan decides, under every version that answers."""
    if version == "tiered-v1":  # a bracket edge at 5,000 of notional, which the fills take her below
        activation = tiered(markets={"BTC-PERP": {"tiers": [
            {"max_notional": "5000", "maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"},
            {"maintenance_margin_rate": "0.01", "initial_margin_rate": "0.02"}]}})
    elif version == "stepped-v1":  # stepping down from 1,000 of notional
        activation = stepped(threshold="1000", markets=FLAT)
    else:
        activation = rules(version=version, fee="0.002", buffer=None if version == "full-v1" else "0.25",
                           markets=FLAT, t=0.5)
    events = [_opening()[0], activation, *_opening()[2:]]
    for n, (kind, side, qty, price) in enumerate(steps):
        t = 4 + n
        if kind == "fill":
            other = "buy" if side == "sell" else "sell"
            events += [trade("alice", side, qty, price, t=t, id=f"a-{n}", fee="0.5"),
                       trade("bob", other, qty, price, t=t, id=f"b-{n}", fee="-0.1")]
        else:
            events.append(mark(price, t=t, id=f"k-{n + 1}"))

    def run(index):
        state, made = LedgerState(), []
        for event in events:
            try:
                made += fold_batch(state, [(event.id, event)], index=index).to_append
            except InvalidBatch:
                continue
        return made

    assert run(LiquidationIndex()) == run(None)
