"""stepped-v1: fixed-fraction steps, a cooldown after a partial close, and a backstop, worked by hand.

Flat rates (BTC-PERP maintenance 0.005, lot 0.001), f = 0.001, T = 100,000,
φ = 0.2, C = 30 s, β = 0.6667 unless a test says otherwise. Every decision
runs through the whole append pipeline, so the cooldown is read from the
liquidations the ledger itself folded.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger import InvalidBatch, Ledger
from ledger.domain.state import INSURANCE_FUND, LedgerState
from ledger.engine.session import fold_batch
from tests.support.builders import deposit, mark, rules, stepped, trade, two_markets

D = Decimal


def run(*events):
    state = LedgerState()
    made = []
    for event in [*two_markets(), stepped(), *events]:
        made += [e for e in fold_batch(state, [(event.id, event)]).to_append if e.TYPE in ("liquidation", "bankruptcy")]
    return state, made


def crash(second_mark_minutes: float):
    """alice: cash 700, long 2.5 BTC at 60,000 ($150,000); mark 60,000, then 59,950 at the given minute."""
    return run(deposit("alice", "700", t=1), trade("alice", "buy", "2.5", "60000", fee="0", t=2), mark("60000", t=3),
               mark("59950", t=second_mark_minutes, id="k-2"))


def test_a_distressed_large_position_first_steps_down_by_a_fifth():
    """E = 700 < MM = 750 (>= β·MM = 500.025): $150,000 > T, so q = 0.2 × 2.5 = 0.5 ($30,000 worth).
    Penalty 0.001 × 0.5 × 60,000 = 30; after: E = 670 >= MM = 600: the decision stops."""
    _, made = run(deposit("alice", "700", t=1), trade("alice", "buy", "2.5", "60000", fee="0", t=2), mark("60000", t=3))
    [liq] = made
    assert (liq.qty, liq.qty * liq.price, liq.penalty) == (D("0.5"), D("30000"), D("30"))
    assert (liq.equity_before, liq.maintenance_before, liq.equity_after, liq.maintenance_after) == (
        D("700"), D("750"), D("670"), D("600.0"))
    assert liq.reason.startswith("step") and liq.required_qty == D("0.50")


def test_still_distressed_ten_seconds_later_the_account_is_cooling_down_and_closes_whole():
    """At 59,950: E = 670 − 100 = 570 < MM = 599.5; 10 s < C = 30 s after the partial: the rest closes whole."""
    _, (step, whole) = crash(3 + 10 / 60)
    assert step.qty == D("0.5")
    assert whole.qty == D("2.0") and whole.reason.startswith("whole: cooling down after the partial close at 2024-08-05T00:03:00")
    assert (whole.equity_before, whole.penalty) == (D("570"), D("119.900"))


def test_exactly_thirty_seconds_later_the_cooldown_is_over_and_another_step_follows():
    """t = t0 + C is no longer cooling: q = 0.2 × 2.0 = 0.4; penalty 23.98; E = 546.02 >= MM = 479.6."""
    _, (_, second) = crash(3.5)
    assert second.qty == D("0.4") and second.reason.startswith("step")
    assert (second.penalty, second.equity_after, second.maintenance_after) == (D("23.980"), D("546.020"), D("479.6000"))


def test_a_partial_close_at_the_same_instant_does_not_cool_the_account():
    """Two marks in one block at the same time: the first one's step does not cool the second's decision."""
    _, made = run(deposit("alice", "700", t=1), trade("alice", "buy", "2.5", "60000", fee="0", t=2), mark("60000", t=3),
                  mark("59950", t=3, id="k-2"))
    assert [liq.reason.split(":")[0] for liq in made] == ["step", "step"]


def test_a_position_at_or_below_the_threshold_closes_whole():
    """bob: long 1.6 BTC at 50,000 ($80,000 <= T), cash 300 < MM = 400 (>= β·MM = 266.68): closed whole."""
    _, [liq] = run(deposit("bob", "300", t=1), trade("bob", "buy", "1.6", "50000", fee="0", t=2), mark("50000", t=3))
    assert liq.qty == D("1.6") and liq.reason == "whole: notional at or below the partial threshold"


@pytest.mark.parametrize(("cash", "backstop"), [("833.374", True), ("833.375", False)])
def test_the_backstop_starts_below_two_thirds_of_maintenance(cash, backstop):
    """MM = 5 × 50,000 × 0.005 = 1,250; β·MM = 0.6667 × 1,250 = 833.375. Below it, the position closes whole and
    its penalty is all the equity left (the margin is kept); at it, the usual step."""
    state, [liq] = run(deposit("carol", cash, t=1), trade("carol", "buy", "5", "50000", fee="0", t=2), mark("50000", t=3))
    if backstop:
        assert liq.qty == D("5") and liq.reason.startswith("backstop")
        assert (liq.penalty, liq.equity_after) == (D(cash), D("0"))
        assert state.system[INSURANCE_FUND]["USD"] == D(cash)
    else:
        assert liq.qty == D("1") and liq.reason.startswith("step")


def test_a_backstop_over_two_positions_charges_the_usual_penalty_first_and_the_margin_left_last():
    """dave: BTC 5 at 50,000 (MM 1,250) and ETH 10 at 3,000 (MM 300); cash 1,000 < β·1,550 = 1,033.385.
    BTC first: penalty 0.001 × 250,000 = 250, E = 750; ETH last: penalty all of E, 750; E = 0, no bankruptcy."""
    state, made = run(deposit("dave", "1000", t=1), trade("dave", "buy", "5", "50000", fee="0", t=2),
                      trade("dave", "buy", "10", "3000", market="ETH-PERP", fee="0", t=2, id="t-eth"),
                      mark("50000", t=3))
    btc, eth = made
    assert (btc.market, btc.penalty, btc.equity_after) == ("BTC-PERP", D("250.000"), D("750.000"))
    assert (eth.market, eth.penalty, eth.equity_after) == ("ETH-PERP", D("750.000"), D("0.000"))
    assert state.accounts["dave"].open_markets() == []


def test_a_backstop_with_a_deficit_ends_in_bankruptcy_even_with_no_fee():
    """f = 0, cash 100, long 5 BTC at 50,000, mark 49,900: E = 100 − 500 = −400 < β·MM: closed, deficit 400."""
    state = LedgerState()
    events = [*two_markets(), stepped(fee="0"), deposit("erin", "100", t=1), trade("erin", "buy", "5", "50000", fee="0", t=2),
              mark("49900", t=3)]
    made = fold_batch(state, [(e.id, e) for e in events]).to_append[len(events):]
    liq, bankruptcy = made
    assert liq.penalty == D("0") and bankruptcy.deficit == D("400")


@pytest.mark.parametrize(("change", "message"), [
    ({"target_buffer": "0.1"}, "unknown key.*target_buffer"),
    ({"step_fraction": "0"}, r"step_fraction must be in \(0, 1\]"),
    ({"backstop_ratio": "1.5"}, r"backstop_ratio must be in \(0, 1\]"),
    ({"cooldown_seconds": "0.0000001"}, "cooldown_seconds must be >= 0.*to the microsecond"),
    ({"partial_threshold_notional": "-1"}, "partial_threshold_notional must be > 0"),
])
def test_bad_parameters_are_refused_at_ingest_naming_the_key(change, message):
    """A stepped-v1 activation with an unknown or out-of-range parameter is refused naming event and key; nothing is stored."""
    activation = stepped()
    params = {**activation.params, **change}
    with Ledger.open("memory://") as ledger:
        ledger.init()
        with pytest.raises(InvalidBatch, match=f"event r-1: .*{message}"):
            ledger.append([*two_markets(), rules(version="stepped-v1", buffer=None, **{
                k: v for k, v in params.items() if k not in ("liquidation_fee_rate", "markets")})])
        assert ledger.head_seq() == 0


def test_explain_names_the_step_and_the_cooldown_state():
    """``explain`` of a stepped-v1 close names the step taken, or the cooldown that made a later close whole, with the figures."""
    with Ledger.open("memory://") as ledger:
        ledger.init()
        ledger.append([*two_markets(), stepped(), deposit("alice", "700", t=1),
                       trade("alice", "buy", "2.5", "60000", fee="0", t=2), mark("60000", t=3),
                       mark("59950", t=3 + 10 / 60, id="k-2")])
        first, second = (liq for _, liq in ledger.liquidations())
        step, whole = ledger.explain(first.id)["formula"], ledger.explain(second.id)["formula"]
    assert step["result"].startswith("step: 0.2 of a position above the partial threshold: closed 0.5")
    assert "cooling down after the partial close at 2024-08-05T00:03:00" in whole["result"]
    assert (step["T"], step["phi"], step["C"], step["beta"]) == ("100000", "0.2", "30", "0.6667")
