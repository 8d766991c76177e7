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

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from ledger.domain.money import arithmetic
from ledger.domain.positions import fill
from ledger.engine.candidates import LiquidationIndex
from ledger.engine.session import fold_batch
from rules import registry
from rules.base import AccountView, PositionView, equity
from rules.triggers import reduction_keeps
from tests.support.builders import (
    deposit,
    funding,
    isolated_margin,
    listed,
    margin_mode,
    mark,
    rules,
    stepped,
    tiered,
    trade,
    withdrawal,
)
from tests.support.histories import fold_one_by_one
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
    """The scope after the fill, as the fold books it (``positions.fill``): the PnL it realized and its fee in the
    cash, the position smaller (or gone)."""
    position = account.positions[k]
    with arithmetic():
        size, _, realized = fill(position.size, position.entry_price, "sell" if position.size > 0 else "buy", qty, price)
        assert realized is not None, "a fill taking a position down realizes"
        cash = account.cash + realized - fee
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
    state, made = fold_one_by_one(events, index, refused_ok=False)
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


TWO_USD = {m: {"maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"} for m in ("BTC-PERP", "ETH-PERP")}

CASES = {
    # alice sells half at 9,712, just above her trigger, paying a fee of 485.6 (10% of the notional, as the price
    # band allows): the price alone would leave room at the trigger (about 1), the fee does not; her cash goes to
    # -329.6 and the next mark at 10,000 liquidates her (found by a review: an index passing no fee missed it)
    "a fee larger than the room the fill's price leaves": [
        *_opening(), trade("alice", "sell", "0.5", "9712", fee="485.6", t=4, id="t-a2"),
        trade("bob", "buy", "0.5", "9712", t=4, id="t-b2"), mark("10000", t=5, id="k-1")],
    # alice short 1 BTC at 10,000 and 100 ETH at 100 on 700 (triggers about 10,288.6 and 102.886) buys 50 ETH back
    # at 115: ETH's trigger leaves no room, BTC's would; the next ETH mark at 100, below ETH's old trigger,
    # liquidates her (found by a review: an index taking the first trigger on the side missed it)
    "the fill's own market's trigger, not another's on its side": [
        listed(t=0), listed(market="ETH-PERP", lot="0.01", t=0),
        rules(version="partial-v1", fee="0.002", buffer="0.25", markets=TWO_USD, t=0.5),
        deposit("alice", "700", t=1, id="d-a"), deposit("bob", "1000000", t=1, id="d-b"),
        trade("alice", "sell", "1", "10000", t=2, id="t-a"), trade("bob", "buy", "1", "10000", t=2, id="t-b"),
        trade("alice", "sell", "100", "100", market="ETH-PERP", t=2.1, id="t-a-e"),
        trade("bob", "buy", "100", "100", market="ETH-PERP", t=2.1, id="t-b-e"),
        mark("10000", t=3, id="k-0"), mark("100", market="ETH-PERP", t=3.1, id="k-e0"),
        trade("alice", "buy", "50", "115", market="ETH-PERP", t=4, id="t-a2"),
        trade("bob", "sell", "50", "115", market="ETH-PERP", t=4, id="t-b2"),
        mark("100", market="ETH-PERP", t=5, id="k-e1")],
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_index_re_indexes_a_fill_whose_triggers_no_longer_stand(case):
    """Fills taking a position down that the version must refuse to keep: the index decides as a full scan does."""
    events = CASES[case]
    _, scanned = _run(events, None)
    assert [e.account for e in scanned][:1] == ["alice"], "the case distresses alice (not a vacuous comparison)"
    assert _run(events, LiquidationIndex())[1] == scanned


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


MARKETS_3 = {"BTC-PERP": ("USD", 10000, "0.001"), "ETH-PERP": ("USD", 100, "0.01"), "SOL-PERP": ("USDC", 50, "0.1")}
"""Three markets, two settle assets: (asset, opening price, lot)."""
RATES_3 = {"BTC-PERP": "0.005", "ETH-PERP": "0.01", "SOL-PERP": "0.02"}
TIERS_3 = {m: {"tiers": [{"max_notional": "3000", "maintenance_margin_rate": r, "initial_margin_rate": "0.04"},
                         {"max_notional": "8000", "maintenance_margin_rate": str(Decimal(r) * 2), "initial_margin_rate": "0.06"},
                         {"maintenance_margin_rate": str(Decimal(r) * 4), "initial_margin_rate": "0.1"}]}
           for m, r in RATES_3.items()}


def _activation(version: str):
    flat = {m: {"maintenance_margin_rate": r, "initial_margin_rate": "0.04"} for m, r in RATES_3.items()}
    if version == "tiered-v1":  # bracket edges at 3,000 and 8,000 of notional, which the fills cross both ways
        return tiered(markets=TIERS_3)
    if version == "stepped-v1":  # stepping down from 1,000 of notional
        return stepped(threshold="1000", markets=flat)
    return rules(version=version, fee="0.002", buffer=None if version == "full-v1" else "0.25", markets=flat, t=0.5)


_FILL = st.tuples(st.just("fill"), st.sampled_from(["alice", "alice", "carol"]), st.sampled_from(list(MARKETS_3)),
                  st.sampled_from(["sell", "sell", "buy"]), st.integers(1, 30), st.integers(9700, 10300),
                  st.sampled_from([0, 0, 5, 50, 500, 1000, -100]))
"""(who, market, side, notional in hundreds, price in basis points of the market's opening price, fee in basis
points of the notional: none, usual, large, the 10% the price band allows, a rebate)"""
_MARK = st.tuples(st.just("mark"), st.sampled_from(list(MARKETS_3)), st.integers(9000, 11000))
_FUNDING = st.tuples(st.just("funding"), st.sampled_from(list(MARKETS_3)), st.integers(-50, 100))
_CASH = st.tuples(st.sampled_from(["deposit", "withdrawal"]), st.sampled_from(["alice", "carol"]),
                  st.sampled_from(["USD", "USDC"]), st.integers(1, 50))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(version=st.sampled_from(STANDING), isolated=st.booleans(),
       opening=st.lists(st.tuples(st.sampled_from(["alice", "carol"]), st.sampled_from(list(MARKETS_3)),
                                  st.sampled_from(["buy", "sell"]), st.integers(1, 40)), min_size=1, max_size=6),
       steps=st.lists(st.one_of(_FILL, _FILL, _MARK, _MARK, _FUNDING, _CASH), min_size=5, max_size=40))
def test_fills_near_distress_are_decided_as_a_full_scan_decides(version, isolated, opening, steps):
    """Generated histories near distress: alice and carol, a few hundred of cash each in two settle assets, open
    positions in three markets (carol's SOL-PERP isolated, in some), then fills with bob (taking their positions
    down, turning them, growing them, at prices about the mark, with fees up to a tenth of the notional and
    rebates), marks, funding both ways, deposits and withdrawals. The index, keeping triggers where the version
    says they stand, decides the very events a full scan decides, under every version that answers."""
    events = [listed(market=m, lot=lot, settle=asset, t=0) for m, (asset, _, lot) in MARKETS_3.items()]
    events += [_activation(version), deposit("bob", "10000000", t=1, id="d-b"),
               deposit("bob", "10000000", t=1, id="d-b2", asset="USDC")]
    for who in ("alice", "carol"):
        events += [deposit(who, "400", t=1, id=f"d-{who}"), deposit(who, "150", t=1, id=f"d2-{who}", asset="USDC")]
    if isolated:
        events += [margin_mode("carol", market="SOL-PERP"), isolated_margin("carol", "40", market="SOL-PERP")]
    n = 0

    def fill(who, market, side, hundreds, price, fee_bp):
        nonlocal n
        n += 1
        qty = (Decimal(hundreds) * 100 / price).quantize(Decimal(MARKETS_3[market][2]))
        if qty <= 0:
            return []
        fee = (qty * price * fee_bp / 10000).quantize(Decimal("0.0001"))
        other = "buy" if side == "sell" else "sell"
        return [trade(who, side, str(qty), str(price), market=market, fee=str(fee), t=2 + n / 1000, id=f"t-{n}"),
                trade("bob", other, str(qty), str(price), market=market, t=2 + n / 1000, id=f"u-{n}")]

    for who, market, side, hundreds in opening:
        events += fill(who, market, side, hundreds, Decimal(MARKETS_3[market][1]), 0)
    for market, (_, price, _) in MARKETS_3.items():
        n += 1
        events.append(mark(str(price), market=market, t=2 + n / 1000, id=f"k-{n}"))
    for step in steps:
        n += 1
        t = 2 + n / 1000
        if step[0] == "fill":
            _, who, market, side, hundreds, bp, fee_bp = step
            events += fill(who, market, side, hundreds, Decimal(MARKETS_3[market][1]) * bp / 10000, fee_bp)
        elif step[0] == "mark":
            _, market, bp = step
            events.append(mark(str(Decimal(MARKETS_3[market][1]) * bp / 10000), market=market, t=t, id=f"k-{n}"))
        elif step[0] == "funding":
            _, market, rate = step
            events.append(funding(str(Decimal(rate) / 100000), market=market, t=t, id=f"f-{n}"))
        else:
            kind, who, asset, amount = step
            made = deposit if kind == "deposit" else withdrawal
            events.append(made(who, str(amount), t=t, id=f"c-{n}", asset=asset))

    assert fold_one_by_one(events, LiquidationIndex())[1] == fold_one_by_one(events)[1]
