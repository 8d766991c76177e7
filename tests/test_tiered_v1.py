"""tiered-v1: bracketed maintenance margin and the fewest-lots restoring close, with the figures worked by hand.

The brackets are the ones venues publish (Binance BTCUSDT of 2021-03-18,
Hyperliquid BTC); the cum amounts and the margin at the edges are the
venues' own "maintenance amounts". The decisions are worked out by hand in
each docstring and run through the whole append pipeline.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import InvalidBatch, Ledger
from ledger.domain.state import LedgerState
from ledger.engine.session import fold_batch
from rules import registry
from rules.tiers import maintenance_of
from tests.support.builders import deposit, listed, mark, tiered, trade

D = Decimal
TIERED = registry.get("tiered-v1")

BINANCE_BTCUSDT_2021_03_18 = [("50000", "0.004"), ("250000", "0.005"), ("1000000", "0.01"), ("10000000", "0.025"),
                              ("20000000", "0.05"), ("50000000", "0.1"), ("100000000", "0.125"), ("200000000", "0.15"),
                              ("300000000", "0.25"), (None, "0.5")]


def brackets(table, imr=lambda mmr: min(2 * D(mmr), D(1))):
    return [{**({"max_notional": edge} if edge else {}), "maintenance_margin_rate": mmr,
             "initial_margin_rate": str(imr(mmr))} for edge, mmr in table]


def tiers_of(table, fee="0", buffer="0"):
    params = TIERED.parse_params({"liquidation_fee_rate": fee, "target_buffer": buffer,
                                  "markets": {"BTC-PERP": {"tiers": brackets(table)}}})
    return params.markets["BTC-PERP"]


def test_binance_brackets_give_the_published_maintenance_amounts():
    """Binance's BTCUSDT brackets give the maintenance amounts (cum) Binance published, tier by tier."""
    tiers = tiers_of(BINANCE_BTCUSDT_2021_03_18)
    assert [t.maintenance_cum for t in tiers] == [D(c) for c in (
        "0", "50", "1300", "16300", "266300", "1266300", "2516300", "5016300", "25016300", "100016300")]


def test_binance_maintenance_is_continuous_at_the_edges():
    """MM(50,000) = 200 and MM(1,000,000) = 8,700, by the tier below the edge and by the tier above it."""
    tiers = tiers_of(BINANCE_BTCUSDT_2021_03_18)
    assert maintenance_of(tiers, D("50000")) == D("200")
    assert D("50000") * tiers[1].maintenance_margin_rate - tiers[1].maintenance_cum == D("200")
    assert maintenance_of(tiers, D("1000000")) == D("8700")
    assert D("1000000") * tiers[3].maintenance_margin_rate - tiers[3].maintenance_cum == D("8700")


def test_hyperliquid_btc_tiers():
    """<= 150M at 1.25%, above at 2.5%: cum 1,875,000, MM(150M) = 1,875,000, MM(200M) = 3,125,000."""
    tiers = tiers_of([("150000000", "0.0125"), (None, "0.025")])
    assert tiers[1].maintenance_cum == D("1875000")
    assert maintenance_of(tiers, D("150000000")) == D("1875000")
    assert maintenance_of(tiers, D("200000000")) == D("3125000")


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(st.tuples(st.integers(1, 10**6), st.integers(1, 400)), min_size=1, max_size=8),
    last=st.integers(1, 500),
    n1=st.integers(0, 10**9), n2=st.integers(0, 10**9),
)
def test_tiered_maintenance_is_continuous_and_non_decreasing_in_notional(steps, last, n1, n2):
    """Generated bracket tables: MM never falls as N grows, and agrees from both sides of every edge."""
    edge, rate, table = 0, 0, []
    for width, rise in steps:
        edge, rate = edge + width, rate + rise
        table.append((str(edge), str(D(rate) / 10000)))
    table.append((None, str(D(rate + last) / 10000)))
    tiers = tiers_of(table)
    low, high = sorted((D(n1), D(n2)))
    assert maintenance_of(tiers, low) <= maintenance_of(tiers, high)
    for k, tier in enumerate(tiers[:-1]):
        above = tiers[k + 1]
        assert tier.max_notional * above.maintenance_margin_rate - above.maintenance_cum == maintenance_of(tiers, tier.max_notional)


@pytest.mark.parametrize(("bad", "message"), [
    ([("1000", "0.01"), ("500", "0.02"), (None, "0.03")], r"tiers\[2\]\.max_notional must be above the previous tier's"),
    ([("1000", "0.02"), (None, "0.01")], r"tiers\[2\]: rates must not decrease"),
    ([("1000", "0.01"), ("2000", "0.02")], r"tiers\[2\]: the last tier has no max_notional"),
    ([(None, "0.01"), (None, "0.02")], r"tiers\[1\] is missing max_notional"),
    ([(None, "1")], r"tiers\[1\]\.maintenance_margin_rate must be in \[0\.0001, 1\)"),
])
def test_malformed_brackets_are_refused_naming_the_market_and_tier(bad, message):
    """Malformed brackets (edges not rising, falling rates, no open last tier, a bad rate) are refused naming market and tier."""
    with pytest.raises(Exception, match=r"params\.markets\.BTC-PERP\." + message):
        tiers_of(bad)


def test_a_bracket_where_no_partial_close_can_help_is_refused_at_activation():
    """(1+b)·mmr <= f: closing a lot would cost more penalty than the margin it frees."""
    with pytest.raises(Exception, match=r"BTC-PERP\.tiers\[1\]: \(1 \+ target_buffer\) × maintenance_margin_rate must exceed"):
        tiers_of([("1000", "0.002"), (None, "0.01")], fee="0.002", buffer="0")


def test_an_activation_with_a_tier_error_is_refused_at_ingest_naming_the_line(tmp_path):
    """An activation with a bracket error is refused, naming the activation event and the tier, and nothing is stored."""
    bad = tiered(markets={"BTC-PERP": {"tiers": brackets([("1000", "0.02"), (None, "0.01")])}})
    with Ledger.open("memory://") as ledger:
        ledger.init()
        with pytest.raises(InvalidBatch, match=r"event r-1: .*BTC-PERP\.tiers\[2\]: rates must not decrease"):
            ledger.append([listed("BTC-PERP", "1"), bad])
        assert ledger.head_seq() == 0


X_TIERS = {"X-PERP": {"tiers": brackets([("1000", "0.01"), (None, "0.05")])}}
"""cum_2 = 1000 × (0.05 − 0.01) = 40: MM(N) = 0.01·N up to 1,000, then 0.05·N − 40."""


def decide(cash: str, qty: str, mark_price: str, fee: str = "0", buffer: str = "0"):
    events = [listed("X-PERP", "1"), tiered(fee=fee, buffer=buffer, markets=X_TIERS), deposit("ann", cash, t=1),
              trade("ann", "buy", qty, "100", market="X-PERP", fee="0", t=2), mark(mark_price, market="X-PERP", t=3)]
    state = LedgerState()
    made = fold_batch(state, [(e.id, e) for e in events]).to_append[len(events):]
    return state, made


def test_a_partial_close_inside_the_upper_bracket():
    """30 X at 100, cash 390, mark 90: N = 2,700, MM = 135 − 40 = 95 > E = 390 − 300 = 90.
    n = 1: MM(2,610) = 90.5 > 90; n = 2: MM(2,520) = 86 <= 90: close 2."""
    state, [liq] = decide("390", "30", "90")
    assert (liq.qty, liq.price, liq.penalty) == (D("2"), D("90"), D("0"))
    assert (liq.equity_before, liq.maintenance_before, liq.target_before) == (D("90"), D("95"), D("95"))
    assert (liq.equity_after, liq.maintenance_after) == (D("90"), D("86"))
    assert liq.required_qty == D("2") and liq.reason.startswith("partial: 2 lot(s)")
    assert state.accounts["ann"].positions["X-PERP"].size == D("28")


def test_a_close_crossing_an_edge_uses_the_lower_bracket_not_the_upper_rate():
    """12 X, cash 129.7, mark 90: N = 1,080, MM = 54 − 40 = 14 > E = 9.7.
    n = 1: N = 990 falls in bracket 1, MM = 9.9 > 9.7 (the upper rate alone would say 9.5 and stop here);
    n = 2: MM(900) = 9 <= 9.7: close 2."""
    _, [liq] = decide("129.7", "12", "90")
    assert (liq.qty, liq.maintenance_before, liq.maintenance_after) == (D("2"), D("14"), D("9.00"))


def test_with_a_fee_and_a_buffer_the_penalty_counts_and_the_target_is_buffered():
    """30 X, cash 390, mark 90, f = 0.001, b = 0.1: E = 90 < MM = 95.
    n lots: 90 − 0.09·n >= 1.1·MM((30−n)·90). n = 2: 89.82 < 1.1·86 = 94.6; n = 3: 89.73 >= 1.1·81.5 = 89.65."""
    _, [liq] = decide("390", "30", "90", fee="0.001", buffer="0.1")
    assert (liq.qty, liq.penalty, liq.equity_after) == (D("3"), D("0.270"), D("89.730"))
    assert liq.maintenance_after == D("81.5")
    assert liq.target_after == D("1.1") * liq.maintenance_after and liq.equity_after >= liq.target_after


def test_when_no_lot_short_of_the_whole_restores_the_target_the_position_closes_whole_then_bankruptcy():
    """30 X, cash 250, mark 90: E = −50. Even 29 lots leave MM(90) = 0.9 > −50: no n restores the target,
    the whole position closes, and the deficit of 50 is a bankruptcy (an empty fund: all socialized)."""
    _, (liq, bankruptcy) = decide("250", "30", "90")
    assert liq.qty == D("30") and liq.required_qty is None and liq.reason.startswith("no partial close")
    assert (bankruptcy.deficit, bankruptcy.insurance_covered, bankruptcy.socialized_loss) == (D("50"), D("0"), D("50"))


@settings(max_examples=200, deadline=None)
@given(cash=st.integers(50, 3000), lots=st.integers(2, 60), mark_price=st.integers(60, 99),
       fee=st.sampled_from(["0", "0.001", "0.005"]), buffer=st.sampled_from(["0", "0.1", "0.5"]))
def test_a_partial_close_is_the_fewest_lots_restoring_the_target(cash, lots, mark_price, fee, buffer):
    """One long in the X brackets, one adverse mark: a partial close restores the target, one lot less would not."""
    _, made = decide(str(cash), str(lots), str(mark_price), fee=fee, buffer=buffer)
    tiers = TIERED.parse_params({"liquidation_fee_rate": fee, "target_buffer": buffer, "markets": X_TIERS}).markets["X-PERP"]
    f, b, p = D(fee), D(buffer), D(mark_price)
    def restores(liq, q):
        return liq.equity_before - f * q * p >= (1 + b) * maintenance_of(tiers, (lots - q) * p)

    for liq in (e for e in made if e.TYPE == "liquidation" and e.reason.startswith("partial")):
        assert restores(liq, liq.qty) and liq.equity_after >= liq.target_after
        assert liq.qty == 1 or not restores(liq, liq.qty - 1)


def test_explain_prints_the_bracket_the_cum_and_the_lots_found():
    """``explain`` of a tiered-v1 close gives the bracket, its rate and cum, the notional's tier and the lots found."""
    with Ledger.open("memory://") as ledger:
        ledger.init()
        ledger.append([listed("X-PERP", "1"), tiered(fee="0", buffer="0", markets=X_TIERS), deposit("ann", "129.7", t=1),
                       trade("ann", "buy", "12", "100", market="X-PERP", fee="0", t=2), mark("90", market="X-PERP", t=3)])
        [(_, liq)] = ledger.liquidations()
        info = ledger.explain(liq.id)
    formula = info["formula"]
    assert (formula["tier"], formula["mmr"], formula["cum"], formula["result"]) == ("2", "0.05", "40.00", "n = 2, q = 2")
    assert "N = 1080 in tier 2" in formula["formula"]
    assert info["account_before"]["maintenance_margin"] == "14.00" and info["account_before"]["target"] == "14.00"

