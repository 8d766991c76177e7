"""Worked examples for each rule version, by hand, through the whole pipeline.

Numbers in the docstrings are worked out by hand; the assertions are exact.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ledger import InvalidBatch, InvalidRuleParams, UnknownRuleVersion
from ledger.domain.fold import replay
from ledger.domain.state import INSURANCE_FUND, SOCIALIZED_LOSS, LedgerState
from ledger.engine.session import fold_batch
from rules import registry
from rules.base import AccountView, DecisionContext, PositionView
from tests.support.builders import RATES, deposit, listed, mark, rules, trade, two_markets, withdrawal

D = Decimal


def run(events):
    state = LedgerState()
    outcome = fold_batch(state, [(f"event {e.id}", e) for e in events])
    made = [e for e in outcome.to_append if e.TYPE in ("liquidation", "bankruptcy")]
    return state, made


def test_before_any_activation_nothing_is_liquidated():
    """Before any rule version is activated, a mark that would distress an account liquidates nothing."""
    state, made = run([*two_markets(), deposit("erin", "1000"), trade("erin", "buy", "0.5", "60000"), mark("58200")])
    assert made == []
    assert state.accounts["erin"].positions["BTC-PERP"].size == D("0.5")


def test_partial_needing_exactly_one_lot():
    """3 lots of X at 100, cash 31.32, mark 90: E = 1.32 < MM = 1.35.
    q >= (1.25 × 1.35 − 1.32) / (90 × (0.00625 − 0.002)) = 0.3675 / 0.3825 = 0.9607… → 1 lot.
    Penalty 0.18; after: E = 1.14 >= 1.25 × 0.9 = 1.125."""
    x_rates = {"X-PERP": {"maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"}}
    _, made = run([
        listed("X-PERP", lot="1"), rules(markets=x_rates),
        deposit("ann", "31.32"), trade("ann", "buy", "3", "100", market="X-PERP"), mark("90", market="X-PERP"),
    ])
    [liq] = made
    assert (liq.qty, liq.price, liq.penalty) == (D("1"), D("90"), D("0.18"))
    assert (liq.equity_before, liq.maintenance_before, liq.target_before) == (D("1.32"), D("1.35"), D("1.6875"))
    assert (liq.equity_after, liq.maintenance_after, liq.target_after) == (D("1.14"), D("0.90"), D("1.125"))
    assert D(liq.required_qty) < 1 and liq.reason.startswith("partial")


def test_a_quantity_landing_mid_lot_rounds_up():
    """The contract example: q = 81.875 / 247.35 = 0.33101… rounds up to 0.332."""
    state, made = run([*two_markets(), rules(), deposit("alice", "1000"), trade("alice", "buy", "0.5", "60000"), mark("58200")])
    [liq] = made
    assert D(liq.required_qty).quantize(D("0.00001")) == D("0.33101")
    assert (liq.qty, liq.penalty, liq.equity_after) == (D("0.332"), D("38.6448"), D("61.3552"))
    assert state.accounts["alice"].positions["BTC-PERP"].size == D("0.168")


def test_a_partial_spills_to_the_second_position():
    """BTC (MM 146.25) first: q 0.704 > 0.5, closed whole; ETH then needs 53.75 / 36 = 1.493 → 1.50."""
    _, made = run([*two_markets(), rules(fee="0.003", buffer="0.5"), deposit("carol", "1000"), trade("carol", "buy", "0.5", "60000", t=2), trade("carol", "buy", "4.8", "3000", market="ETH-PERP", t=2.5), mark("58500", t=3)])
    assert [(m.market, m.qty, m.penalty) for m in made] == [("BTC-PERP", D("0.5"), D("87.75")), ("ETH-PERP", D("1.50"), D("13.5"))]
    assert made[1].equity_after >= made[1].target_after == D("148.5")


def test_the_dust_rule_closes_a_remainder_below_one_lot():
    """Sizes off the lot grid (e.g. after a lot-size change) can leave dust.

    0.3325 BTC long at 60000, mark 58200, fee 0.002, buffer 0.25: MM = 96.7575,
    target 120.946875. With cash 598.5 + 120.946875 − 0.3315 × 247.35 the
    shortfall is 0.3315 × 247.35, so q = 0.3315 exactly → 0.332 on the grid,
    which would leave 0.0005 < one lot: the position closes whole.
    """
    rule = registry.get("partial-v1")
    params = rule.parse_params(rules().params)
    position = PositionView("BTC-PERP", D("0.3325"), D("60000"), D("58200"), D("0.001"))
    cash = D("598.5") + D("120.946875") - D("0.3315") * D("247.35")
    context = DecisionContext(datetime(2024, 8, 5, tzinfo=UTC), D(0))
    [close] = rule.decide(AccountView("alice", "USD", cash, (position,)), params, context).closes
    assert D(close.required_qty) == D("0.3315")
    assert close.qty == D("0.3325") and "dust" in close.reason


def test_when_the_fee_exceeds_the_buffered_rate_partial_closes_whole_with_a_capped_penalty():
    """f = 0.01 >= 1.25 × 0.005: no partial helps. Penalty 291 is capped at the equity left, 100."""
    state, made = run([*two_markets(), rules(fee="0.01"), deposit("dan", "1000"), trade("dan", "buy", "0.5", "60000"), mark("58200")])
    [liq] = made
    assert (liq.qty, liq.penalty, liq.required_qty) == (D("0.5"), D("100"), None)
    assert state.accounts["dan"].cash["USD"] == 0
    assert state.system[INSURANCE_FUND]["USD"] == D("100")


def _fund_then_crash(crash_price: str):
    """bob's ETH squeeze pays 10.726 into the fund; then dave (cash 100, 0.1 BTC at 60000) gaps down."""
    return run([*two_markets(), rules(), deposit("bob", "500"), trade("bob", "sell", "4", "3000", market="ETH-PERP", fee="1.2"), mark("3100", market="ETH-PERP", t=3), deposit("dave", "100", t=4), trade("dave", "buy", "0.1", "60000", t=5), mark(crash_price, t=6)])


def test_a_bankruptcy_covered_by_the_insurance_fund():
    """At 58900 dave's E = 100 − 110 = −10: closed whole, no penalty, fund 10.726 covers 10."""
    state, made = _fund_then_crash("58900")
    bankruptcy = made[-1]
    assert bankruptcy.TYPE == "bankruptcy" and made[-2].penalty == 0
    assert (bankruptcy.deficit, bankruptcy.fund_before, bankruptcy.insurance_covered, bankruptcy.socialized_loss) == (
        D("10"), D("10.726"), D("10"), D("0"))
    assert state.accounts["dave"].cash["USD"] == 0
    assert state.system[INSURANCE_FUND]["USD"] == D("0.726")


def test_a_bankruptcy_exceeding_the_insurance_fund_is_a_socialized_loss():
    """At 58800 dave's deficit is 20: the fund's 10.726 covers part, 9.274 is socialized."""
    state, made = _fund_then_crash("58800")
    bankruptcy = made[-1]
    assert (bankruptcy.insurance_covered, bankruptcy.socialized_loss) == (D("10.726"), D("9.274"))
    assert state.system[INSURANCE_FUND]["USD"] == 0
    assert state.system[SOCIALIZED_LOSS]["USD"] == D("-9.274")
    assert state.accounts["dave"].cash["USD"] == 0


def test_full_v1_closes_every_position():
    """Under full-v1 a distressed account has every position closed whole."""
    _, made = run([*two_markets(), rules(version="full-v1", fee="0.003", buffer="0.5"), deposit("carol", "1000"), trade("carol", "buy", "0.5", "60000", t=2), trade("carol", "buy", "4.8", "3000", market="ETH-PERP", t=2.5), mark("58500", t=3)])
    assert [(m.market, m.qty) for m in made] == [("BTC-PERP", D("0.5")), ("ETH-PERP", D("4.8"))]


def test_the_rule_in_force_at_the_mark_decides():
    """full-v1 first, partial-v1 activated later: the later crash is handled partially."""
    _, made = run([*two_markets(), rules(version="full-v1", id="r-full"), deposit("alice", "1000"), trade("alice", "buy", "0.5", "60000"), rules(version="partial-v1", id="r-partial", t=2.5), mark("58200")])
    assert [(m.qty, m.rule_version) for m in made] == [(D("0.332"), "partial-v1")]


@pytest.mark.parametrize(
    ("activation", "error", "fragment"),
    [
        (rules(version="partial-v9"), UnknownRuleVersion, "unknown rule version 'partial-v9'"),
        (rules(buffer=None), InvalidRuleParams, "missing target_buffer"),
        (rules(cooldown="5"), InvalidRuleParams, "unknown key(s) for this version: cooldown"),
        (rules(fee="-0.1"), InvalidRuleParams, "liquidation_fee_rate must be in [0, 0.1]"),
        (rules(fee="1e-3"), InvalidRuleParams, "not a plain decimal"),
        (rules(markets={"BTC-PERP": RATES["BTC-PERP"]}), InvalidRuleParams, "no margin rates for listed market(s): ETH-PERP"),
        (rules(markets={**RATES, "SOL-PERP": RATES["BTC-PERP"]}), InvalidRuleParams, "unlisted market(s): SOL-PERP"),
        (rules(markets={**RATES, "BTC-PERP": {"maintenance_margin_rate": "0.02", "initial_margin_rate": "0.01"}}),
         InvalidRuleParams, "initial_margin_rate must be between"),
    ],
)
def test_bad_activations_are_refused_naming_the_event(activation, error, fragment):
    """An activation with an unknown version or bad parameters is refused with the reason, naming the activation event."""
    with pytest.raises(InvalidBatch) as caught:
        run([*two_markets(), activation])
    [cause] = caught.value.errors
    assert isinstance(cause, error) and fragment in str(cause) and cause.where == f"event {activation.id}"


def test_a_fill_in_a_market_listed_after_the_rules_in_force_waits_for_rules_covering_it():
    """A market listed after the activation in force has no margin rates in it: a fill there is refused, naming the
    rules and the event, until an activation covering it; then the same fill is admitted (the markets the rules in
    force margin are kept per activation, and follow the new one)."""
    before = [listed("BTC-PERP"), rules(markets={"BTC-PERP": RATES["BTC-PERP"]}), listed("ETH-PERP", "0.01", t=0.6),
              deposit("alice", "1000"), trade("alice", "buy", "0.5", "60000")]
    fill = trade("alice", "buy", "1", "3000", market="ETH-PERP", t=3, id="t-eth")
    with pytest.raises(InvalidBatch) as caught:
        run([*before, fill])
    [cause] = caught.value.errors
    assert cause.where == "event t-eth" and str(cause) == (
        "event t-eth: market 'ETH-PERP' has no margin rates in the rules in force (partial-v1, activated by r-1): "
        "activate rules covering it first")
    state, _ = run([*before, rules(id="r-2", t=2.5), fill])
    assert state.accounts["alice"].positions["ETH-PERP"].size == D("1")


def test_while_rules_are_in_force_a_withdrawal_must_leave_initial_margin():
    """While rules are in force, a withdrawal that would leave equity below the initial margin is refused."""
    with pytest.raises(InvalidBatch, match="below the initial margin 300"):
        run([*two_markets(), rules(), deposit("alice", "1000"), trade("alice", "buy", "0.5", "60000"), withdrawal("alice", "701", t=3)])


def test_replay_folds_recorded_liquidations_without_rerunning_rules():
    """Replay folds the recorded liquidations as they are and never re-runs the rules: without them it invents none."""
    events = [*two_markets(), rules(), deposit("alice", "1000"), trade("alice", "buy", "0.5", "60000"), mark("58200")]
    state, _ = run(events)
    recorded = fold_batch(LedgerState(), [(e.id, e) for e in events]).to_append
    assert replay(recorded).accounts == state.accounts
    # without the liquidation event, a replay does not invent one
    assert replay(events).accounts["alice"].positions["BTC-PERP"].size == D("0.5")


def test_every_registered_version_is_named_as_registered():
    """Every registered rule version carries the name it is registered under."""
    assert {name: rule.name for name, rule in registry.REGISTRY.items()} == {n: n for n in registry.REGISTRY}
