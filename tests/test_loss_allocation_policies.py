"""The loss-allocation policies on the issue's worked figures (issue 25, §5), exactly, with no ledger around them.

Market X, mark 100, lot 0.1, USD, quantum 0.00000001. The bankrupt B was long
10 @ 120 with cash 150, closed whole at 100 with no penalty: deficit 50. The
counterparties are shorts (size @ entry, cash); a scope's equity is its cash
plus its unrealised PnL at the mark.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger.domain.money import arithmetic
from rules.allocation import registry
from rules.allocation.base import Counterparty

D = Decimal
MARK, LOT, QUANTUM = D(100), D("0.1"), {"cash_quantum": "0.00000001"}


def short(name: str, size: str, entry: str, cash: str) -> Counterparty:
    size_, entry_ = -D(size), D(entry)
    return Counterparty(name, "", size_, entry_, D(cash) + size_ * (MARK - entry_), LOT)


S1, S2, S3, S4 = short("S1", "4", "130", "60"), short("S2", "6", "110", "30"), short("S3", "6", "95", "100"), \
    short("S4", "4", "105", "10")


def allocate(policy: str, params: dict, residual: str, counterparties) -> list[tuple[str, str, str]]:
    rule = registry.get(policy)
    with arithmetic():
        done = rule.allocate(D(residual), D(10), MARK, counterparties, rule.parse_params(params))
    assert all(f.haircut.as_tuple().exponent == -8 for f in done.fills), "haircuts are whole quanta"
    return [(f.account, str(f.qty), f.haircut) for f in done.fills], done.unfilled, done.socialized


def test_ranked_with_a_fund_of_20_fills_s4_then_s2_and_socializes_nothing():
    """R = 30, h = 3: the queue is S4, S2, S1, S3; S4 closes 4 (haircut 12) and S2 6 (18)."""
    fills, unfilled, socialized = allocate("adl-ranked-v1", QUANTUM, "30", [S1, S2, S3, S4])
    assert fills == [("S4", "4.0", D("12")), ("S2", "6.0", D("18"))] and unfilled == 0 and socialized == 0


def test_ranked_quantiles_put_s4_first_and_s3_last():
    """The indicator before the allocation: S4 1, S2 3, S1 4, S3 5 (ceil(5 × cumulative / total))."""
    rule = registry.get("adl-ranked-v1")
    with arithmetic():
        found = rule.quantiles(MARK, [S1, S2, S3, S4], rule.parse_params(QUANTUM))
    assert found == {("S4", ""): 1, ("S2", ""): 3, ("S1", ""): 4, ("S3", ""): 5}


def test_ranked_with_an_empty_fund_caps_a_fill_at_its_equity():
    """R = 50, h = 5, S4 short 4 @ 104 with cash 2.25 (equity 18.25): S4 3.6 (18), S2 6 (30), S1 0.4 (2)."""
    fills, _, socialized = allocate("adl-ranked-v1", QUANTUM, "50", [S1, S2, S3, short("S4", "4", "104", "2.25")])
    assert fills == [("S4", "3.6", D("18")), ("S2", "6.0", D("30")), ("S1", "0.4", D("2"))] and socialized == 0


def test_ranked_leaves_what_the_queue_cannot_take_unfilled_and_socialized():
    """Only S6, S7 (short 3 @ 110, cash 20) and S8 (short 14 @ 100, cash 5): 3, 3 and 1; 3 unfilled, 15 socialized."""
    queue = [short("S6", "3", "110", "20"), short("S7", "3", "110", "20"), short("S8", "14", "100", "5")]
    fills, unfilled, socialized = allocate("adl-ranked-v1", QUANTUM, "50", queue)
    assert fills == [("S6", "3.0", D("15")), ("S7", "3.0", D("15")), ("S8", "1.0", D("5"))]
    assert (unfilled, socialized) == (D(3), D(15))


def test_pro_rata_by_notional_halves_every_position_the_losing_one_too():
    """R = 30: each of S1..S4 gives half its position, haircuts 6, 9, 9, 6 (recorded by amount, then name)."""
    fills, unfilled, socialized = allocate("adl-prorata-v1", {**QUANTUM, "weight": "notional"}, "30", [S1, S2, S3, S4])
    assert sorted(fills) == [("S1", "2.0", D("6")), ("S2", "3.0", D("9")), ("S3", "3.0", D("9")), ("S4", "2.0", D("6"))]
    assert [f[0] for f in fills] == ["S2", "S3", "S1", "S4"] and unfilled == 0 and socialized == 0


def test_pro_rata_by_profit_leaves_the_losing_short_out_and_caps_s1():
    """R = 30: S3 is not eligible; S1 capped at 12 (closes 4, flat), S2 13.5 (4.5), S4 4.5 (1.5)."""
    fills, _, socialized = allocate("adl-prorata-v1", {**QUANTUM, "weight": "profit"}, "30", [S1, S2, S3, S4])
    assert fills == [("S2", "4.5", D("13.5")), ("S1", "4.0", D("12")), ("S4", "1.5", D("4.5"))] and socialized == 0


def test_pro_rata_by_notional_with_an_empty_fund_caps_s5_at_its_equity():
    """Only S1 and S5 (short 16 @ 101, cash 0): S5 capped at 16 (closes 3.2), S1 20 (closes 4); 2.8 unfilled, 14
    socialized."""
    fills, unfilled, socialized = allocate("adl-prorata-v1", {**QUANTUM, "weight": "notional"}, "50",
                                           [S1, short("S5", "16", "101", "0")])
    assert fills == [("S1", "4.0", D("20")), ("S5", "3.2", D("16"))] and (unfilled, socialized) == (D("2.8"), D(14))


@pytest.mark.parametrize(("policy", "params", "key"), [
    ("adl-ranked-v1", {}, "cash_quantum"),
    ("adl-ranked-v1", {"cash_quantum": "0.05"}, "cash_quantum"),
    ("adl-ranked-v1", {"cash_quantum": "0.01", "weight": "profit"}, "weight"),
    ("adl-prorata-v1", {"cash_quantum": "0.01"}, "weight"),
    ("adl-prorata-v1", {"cash_quantum": "0.01", "weight": "size"}, "weight"),
    ("socialize-v1", {"cash_quantum": "1"}, "cash_quantum"),
])
def test_missing_unknown_or_invalid_params_are_refused_naming_the_key(policy, params, key):
    """A policy's params are held to their keys: a missing, unknown or invalid one is refused, naming it."""
    from ledger.errors import InvalidRuleParams

    with pytest.raises(InvalidRuleParams, match=key):
        registry.get(policy).parse_params(params)


@pytest.mark.parametrize("quantum", ["0.00000001", "0.01", "1", "10", "1000"])
def test_every_power_of_ten_is_a_cash_quantum(quantum):
    """10^k for any integer k is a quantum; the haircuts are whole quanta."""
    assert registry.get("adl-ranked-v1").parse_params({"cash_quantum": quantum}).cash_quantum == D(quantum)


from fractions import Fraction  # noqa: E402  (the properties below)

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from rules.allocation.policies.adl_prorata_v1 import amounts  # noqa: E402
from rules.allocation.policies.adl_ranked_v1 import score  # noqa: E402

positions = st.lists(
    st.builds(lambda n, size, entry, cash: short(f"A{n:02d}", str(D(size) / 10), str(entry), str(cash)),
              st.integers(0, 99), st.integers(1, 200), st.integers(50, 150), st.integers(0, 3000)),
    min_size=0, max_size=12, unique_by=lambda p: p.account,
).map(lambda found: [p for p in found if p.equity > 0])
residuals = st.integers(1, 500_000).map(lambda cents: D(cents) / 100)
quanta = st.sampled_from(["0.00000001", "0.01", "1"])


def _checked(policy, params, residual, found):
    rule = registry.get(policy)
    with arithmetic():
        done = rule.allocate(residual, D(10), MARK, found, rule.parse_params(params))
    h = Fraction(residual) / 10
    assert sum((f.haircut for f in done.fills), D(0)) + done.socialized == residual
    assert sum((f.qty for f in done.fills), D(0)) + done.unfilled == D(10)
    by_name = {p.account: p for p in found}
    for fill in done.fills:
        position = by_name[fill.account]
        assert 0 < fill.qty <= abs(position.size), "a fill never flips a position"
        assert "E" not in fill.basis and "e" not in fill.basis, f"a plain decimal, never an exponent: {fill.basis}"
        assert (Fraction(fill.qty) / Fraction(LOT)).denominator == 1, "whole lots"
        assert Fraction(fill.qty) * h <= Fraction(position.equity), "no fill takes a scope below zero"
        assert fill.haircut == Fraction(fill.qty) * h // Fraction(D(params["cash_quantum"])) * Fraction(D(params["cash_quantum"]))
    return done, h


@settings(max_examples=300, deadline=None)
@given(found=positions, residual=residuals, quantum=quanta)
def test_ranked_fills_in_queue_order_and_a_later_one_only_after_every_earlier_one_is_full(found, residual, quantum):
    """Ranked: what is placed adds up; a position later in the queue is filled only if every earlier one reached
    min(|q|, floor_lot(E / h))."""
    done, h = _checked("adl-ranked-v1", {"cash_quantum": quantum}, residual, found)
    queue = sorted(found, key=lambda p: (-score(p, MARK), p.account))
    filled = {f.account: f.qty for f in done.fills}
    last = max((n for n, p in enumerate(queue) if p.account in filled), default=-1)
    for position in queue[:last]:
        cap = Fraction(LOT) * (Fraction(position.equity) / h // Fraction(LOT))
        assert Fraction(filled.get(position.account, D(0))) == min(abs(Fraction(position.size)), cap), position.account


@settings(max_examples=300, deadline=None)
@given(found=positions, residual=residuals, quantum=quanta, weight=st.sampled_from(["notional", "profit"]))
def test_pro_rata_adds_up_and_never_overdraws(found, residual, quantum, weight):
    """Pro-rata: what is placed adds up, every fill is whole lots within its position and its scope's equity."""
    _checked("adl-prorata-v1", {"cash_quantum": quantum, "weight": weight}, residual, found)


@settings(max_examples=300, deadline=None)
@given(weights=st.lists(st.integers(0, 1000), min_size=1, max_size=10), caps=st.data(),
       residual=st.integers(1, 5000))
def test_water_filling_gives_the_uncapped_the_same_amount_per_unit_of_weight(weights, caps, residual):
    """Before lot rounding, every uncapped position pays the same amount per unit of weight, none pays above its
    cap, and the total is min(R, Σ caps)."""
    capped = [caps.draw(st.integers(0, 2000)) for _ in weights]
    w = {i: Fraction(x) for i, x in enumerate(weights)}
    c = {i: Fraction(x) for i, x in enumerate(capped)}
    given_ = amounts(Fraction(residual), w, c)
    active = [i for i in w if w[i] > 0 and c[i] > 0]
    assert all(given_.get(i, 0) <= c[i] for i in w)
    assert sum(given_.values(), Fraction(0)) == min(Fraction(residual), sum((c[i] for i in active), Fraction(0)))
    levels = {given_[i] / w[i] for i in active if given_.get(i, 0) < c[i]}
    assert len(levels) <= 1, levels
