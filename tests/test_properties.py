"""Generated histories (hypothesis): the invariants hold whatever happens.

Histories mix deposits, withdrawals, fills and marks (including crashes),
funding payments, margin-mode switches and isolated margin moves over several
accounts and two markets, under a sampled rule version and parameters. Records the ledger refuses (a withdrawal beyond what is available,
say) are dropped, as a refused batch stores nothing. Checked after every
accepted event: the trial balance is zero per asset; an isolated position's
loss never moves its account's cross cash; after every mark or funding no
margin scope exposed to it (a cross account, an isolated position) is left
distressed with positions (but one that stepped-v1 has just stepped down, as
its rule allows); a partial close
never exceeds the formula's quantity by a lot or more; replaying the appended
events reproduces the state; and running the same input again yields the
very same liquidation events.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import InvalidBatch
from ledger.domain.fold import replay
from ledger.domain.postings import trial_balance
from ledger.domain.snapshot import dump_state
from ledger.domain.state import LedgerState
from ledger.engine.liquidation import NO_RULES, account_view, version_in_force
from ledger.engine.session import fold_batch
from tests.support.builders import (
    deposit,
    mark,
    rules,
    trade,
    two_markets,
)
from tests.support.histories import (
    MARKETS,
    D,
    activations,
    fold_one_by_one,
    header,
    policies,
    run_history,
    steps,
    to_event,
)


def test_the_generated_activations_cover_every_registered_version():
    """A version added to the registry is generated here too (add its strategy to ``activations``), so every property
    below holds it: the list is checked against the registry, never hard-coded in the tests that use it."""
    from hypothesis import find

    from rules import registry

    for name in registry.names():
        find(activations, lambda a, name=name: a.version == name)  # raises when the strategy never makes one


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(activation=activations, history=st.lists(steps(), min_size=5, max_size=60), policy=policies)
def test_invariants_hold_over_generated_histories(activation, history, policy):
    """The invariants hold after every event of a generated history under any loss-allocation policy, replay
    reproduces the state, and a rerun decides alike."""
    state, appended, engine = run_history(activation, history, policy)
    assert dump_state(replay(appended)) == dump_state(state)
    _, _, engine_again = run_history(activation, history, policy)
    assert engine_again == engine


@settings(max_examples=60, deadline=None)
@given(history=st.lists(steps(), min_size=5, max_size=40))
def test_without_rules_nothing_is_ever_liquidated_and_books_still_balance(history):
    """No rule, no liquidation. The one thing the engine still does is accounting: a trade that closes an isolated
    position whose margin it overdrew is followed by that position's bankruptcy (``engine.liquidation.on_trade``,
    version ``none``), which settles the deficit; nothing else is ever made."""
    state = LedgerState()
    events = header() + [to_event(step, n) for n, step in enumerate(history)]
    for event in events:
        try:
            outcome = fold_batch(state, [(event.id, event)])
        except InvalidBatch:
            continue
        made = outcome.to_append[1:]
        assert all(e.TYPE == "bankruptcy" for e in made), [e.TYPE for e in made]
        for bankruptcy in made:
            assert event.TYPE == "trade" and (bankruptcy.account, bankruptcy.market) == (event.account, event.market)
            assert bankruptcy.rule_version == NO_RULES and bankruptcy.deficit > 0
            assert state.accounts[event.account].positions[event.market].size == 0
            assert state.accounts[event.account].isolated[event.market] == 0, "the deficit is settled"
        assert all(total == 0 for total in trial_balance(state).values())


def test_without_rules_an_isolated_deficit_a_trade_leaves_is_settled_by_a_bankruptcy():
    """The case the property above allows, pinned (found by it, once the header fenced off isolated margins): a3's
    500 of isolated margin on ETH-PERP, overdrawn by a long bought at 2955 and sold at 2100 (a 504.45 loss)."""
    state = LedgerState()
    history = [("trade", "a3", "ETH-PERP", "buy", "0.59", "2955", "0"), ("trade", "a3", "ETH-PERP", "sell", "0.59", "2100", "0")]
    outcomes = [fold_batch(state, [(e.id, e)]) for e in header() + [to_event(step, n) for n, step in enumerate(history)]]
    [bankruptcy] = outcomes[-1].to_append[1:]
    assert (bankruptcy.TYPE, bankruptcy.account, bankruptcy.market, bankruptcy.rule_version) == (
        "bankruptcy", "a3", "ETH-PERP", NO_RULES)
    assert bankruptcy.deficit == Decimal("4.45") == bankruptcy.socialized_loss  # an empty insurance fund
    assert state.accounts["a3"].isolated["ETH-PERP"] == 0
    assert all(total == 0 for total in trial_balance(state).values())


@settings(max_examples=300, deadline=None)
@given(
    cash=st.integers(200, 5000),
    lots=st.integers(100, 5000),
    drop_bp=st.integers(0, 400),
    fee=st.sampled_from(["0", "0.001", "0.002", "0.004"]),
    buffer=st.sampled_from(["0", "0.1", "0.25", "0.5", "1"]),
    side=st.sampled_from(["buy", "sell"]),
)
def test_a_partial_close_is_the_smallest_lot_rounded_quantity(cash, lots, drop_bp, fee, buffer, side):
    """One leveraged position, one adverse mark: the close restores the target and
    one lot less would not have."""
    qty = D("0.001") * lots
    adverse = D(60000) * (1 - D(drop_bp) / 10000 if side == "buy" else 1 + D(drop_bp) / 10000)
    events = [*two_markets(), rules(fee=fee, buffer=buffer), deposit("a0", str(cash), t=1), trade("a0", side, str(qty), "60000", t=2), mark(str(adverse), t=3)]
    state = LedgerState()
    made = fold_batch(state, [(e.id, e) for e in events]).to_append[len(events):]
    b, f, m, lot = D(buffer), D(fee), D("0.005"), D("0.001")
    for liq in (e for e in made if e.TYPE == "liquidation"):
        if liq.qty < qty:
            assert liq.equity_after >= liq.target_after
            smaller = liq.qty - lot
            e_smaller = liq.equity_before - f * smaller * liq.price
            mm_smaller = liq.maintenance_before - smaller * liq.price * m
            assert e_smaller < (1 + b) * mm_smaller, "one lot less would have been enough"
    position = state.accounts["a0"].positions["BTC-PERP"]
    if position.size != 0:
        version, params = version_in_force(state.rules)
        assert not version.is_distressed(account_view(state, "a0", "USD"), params)


def fold_each(history, activation, index, policy=None):
    return fold_one_by_one(header(activation, policy) + [to_event(step, n) for n, step in enumerate(history)], index)[1]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(activation=activations, history=st.lists(steps(), min_size=5, max_size=60), policy=policies)
def test_the_liquidation_index_decides_exactly_as_a_full_scan(activation, history, policy):
    """Candidates from trigger prices are a superset of the distressed: same events, same order."""
    from ledger.engine.candidates import LiquidationIndex

    assert fold_each(history, activation, LiquidationIndex(), policy) == fold_each(history, activation, None, policy)


def _small_funding(step):
    """A funding step at a hundredth of its rate (|rate| <= 0.05%): payments that fit in the index's funding reserve,
    so the triggers that stand through them are the ones computed before."""
    return ("funding", step[1], str(D(step[2]) / 100)) if step[0] == "funding" else step


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(activation=activations, history=st.lists(st.one_of(steps(), steps().filter(lambda s: s[0] == "funding")),
                                                 min_size=10, max_size=80))
def test_the_index_stays_exact_through_funding_paid_from_its_reserve(activation, history):
    """Funding within each payer's reserve re-indexes nobody; the candidates must still be a superset, at the funding
    itself and at every later mark: the same events, in the same order, as a full scan."""
    from ledger.engine.candidates import LiquidationIndex

    history = [_small_funding(step) for step in history]
    assert fold_each(history, activation, LiquidationIndex()) == fold_each(history, activation, None)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(activation=activations, history=st.lists(steps(), min_size=5, max_size=60),
       version=st.sampled_from(["partial-v1", "full-v1"]), mm=st.sampled_from(["0.002", "0.01", "0.03"]))
def test_a_what_if_index_decides_exactly_as_a_full_scan(activation, history, version, mm):
    """With substituted rules (other version, other margin rates) the index still finds every distressed account."""
    from ledger.domain.state import RulesInForce
    from ledger.engine.candidates import LiquidationIndex

    rates = {"maintenance_margin_rate": mm, "initial_margin_rate": "0.05"}
    params = {"liquidation_fee_rate": "0.002", "target_buffer": "0.5", "markets": dict.fromkeys(MARKETS, rates)}

    def substitute(rules):
        return RulesInForce(version, params, "whatif", rules.at)

    events = header(activation) + [to_event(step, n) for n, step in enumerate(history)]
    assert fold_one_by_one(events, LiquidationIndex(substitute), substitute)[1] == fold_one_by_one(events, None, substitute)[1]
