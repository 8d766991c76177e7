"""#28: what-if worlds kept as their differences from what happened equal the full re-run, row for row and account
for account.

``compliance.differential`` folds what happened once and lets each world re-run only the events of accounts its
engine has moved differently. The full re-run (``differential=False``: every event re-run in every world) is the
reference: over generated histories (fills, marks with crashes, funding, isolated margin, liquidations and
bankruptcies in what happened), every registered rule version, candidates that share trigger prices (only fees or
buffers differ: one liquidation index between them) and candidates that do not, and every loss-allocation policy,
the comparisons' JSON, each world's final state and what each refused are the same.
"""

from __future__ import annotations

import contextlib

import attrs
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ledger import InvalidBatch, Ledger
from ledger.compliance import whatif as whatif_module
from ledger.compliance.whatif import compare
from ledger.domain.events import thaw
from ledger.domain.snapshot import dump_state
from ledger.replay import load
from rules import registry
from tests.support.builders import at, deposit, listed, mark, rules, tiered, trade, withdrawal
from tests.support.histories import activations, generated_ledger, policies, steps, to_event

POLICIES = [None, ("socialize-v1", {}), ("adl-ranked-v1", {"cash_quantum": "0.01"}),
            ("adl-prorata-v1", {"cash_quantum": "0.00000001", "weight": "profit"})]




def candidates_from(first, second, fee: str) -> list[tuple[str, dict]]:
    """Two generated versions with their params, and the first again with another fee rate and buffer (the same
    trigger prices: it shares the first's index)."""
    params = thaw(first.params)
    other = dict(params, liquidation_fee_rate=fee)
    if "target_buffer" in other:
        other["target_buffer"] = "0.5"
    return [(first.version, params), (first.version, other), (second.version, thaw(second.params))]


def assert_same(ledger: Ledger, candidates, chosen) -> None:
    reference = compare(ledger.store, candidates, policies=chosen, differential=False)
    differential = compare(ledger.store, candidates, policies=chosen)
    assert differential.to_json() == reference.to_json()
    for mine, theirs in zip(differential.worlds, reference.worlds, strict=True):
        mine_state, their_state = mine.alternative_state(differential.actual_state), \
            theirs.alternative_state(reference.actual_state)
        assert dump_state(mine_state) == dump_state(their_state)
        assert list(mine_state.accounts) == list(their_state.accounts), "the accounts in the same order"
        assert mine.refused == theirs.refused
    assert dump_state(differential.actual_state) == dump_state(load.folded(ledger.store))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(activation=activations, policy=policies, history=st.lists(steps(), min_size=5, max_size=80),
       first=activations, second=activations, fee=st.sampled_from(["0", "0.0005", "0.001"]),
       chosen=st.lists(st.sampled_from(POLICIES), min_size=3, max_size=3))
@example(activation=tiered(fee="0", buffer="0"), policy=None, first=rules(version="full-v1", fee="0", buffer="0"),
         second=tiered(fee="0", buffer="0"), fee="0", chosen=[None, None, None],
         history=[("deposit", "a0", "1"), ("deposit", "a0", "1"), ("trade", "a0", "ETH-PERP", "buy", "2.29", "2955", "0"),
                  ("mark", "ETH-PERP", "2100"), ("funding", "ETH-PERP", "0")],
         ).via("a funding paid in what happened by an account the world closed")
def test_differential_worlds_equal_the_full_re_run(activation, policy, history, first, second, fee, chosen):
    """Every generated history, three candidates (two sharing triggers), each with a loss-allocation policy or the
    one in force: the same comparison, states and refusals as re-running every event in every world."""
    ledger = generated_ledger(activation, policy, history)
    assert_same(ledger, candidates_from(first, second, fee), chosen)


ZERO_RULES = rules(version="partial-v1", fee="0", buffer="0")
"""No fee, no buffer: every distressed account is liquidated down to its maintenance margin (bankruptcies follow)."""


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(activation=activations, switch=activations, policy=policies, history=st.lists(steps(), min_size=5, max_size=60),
       where=st.floats(0, 1), first=activations, second=activations, fee=st.sampled_from(["0", "0.0005", "0.001"]))
@example(activation=ZERO_RULES, switch=ZERO_RULES, policy=None, where=0.0, first=ZERO_RULES, second=ZERO_RULES, fee="0",
         history=[("trade", "a1", "ETH-PERP", "sell", "0.01", "2955", "0"),
                  ("trade", "a2", "ETH-PERP", "buy", "2.04", "2955", "0"), ("mark", "ETH-PERP", "2364"),
                  ("trade", "a0", "BTC-PERP", "buy", "0.001", "59100", "0"),
                  ("trade", "a1", "ETH-PERP", "buy", "0.01", "2955", "0")]).via("a system balance's exponent")
@example(activation=ZERO_RULES, switch=ZERO_RULES, policy=None, where=0.0, first=ZERO_RULES,
         second=tiered(fee="0", buffer="0"), fee="0",
         history=[("trade", "a0", "ETH-PERP", "buy", "12.66", "2955", "0"),
                  ("trade", "a1", "ETH-PERP", "sell", "0.01", "2955", "0"), ("mark", "ETH-PERP", "2100"),
                  ("trade", "a0", "BTC-PERP", "sell", "0.177", "47820", "0"),
                  ("trade", "a1", "BTC-PERP", "buy", "0.194", "59100", "0"), ("mark", "BTC-PERP", "59100"),
                  ("mark", "BTC-PERP", "59100")]).via("a deleveraged account that had diverged before, re-indexed")
def test_differential_worlds_follow_a_rule_change_mid_history(activation, switch, policy, history, where, first,
                                                              second, fee):
    """Another version (with its params) activated mid-history: the worlds regroup by their new triggers (a world
    under the rules in force changes with them) and still equal the full re-run."""
    ledger = generated_ledger(activation, policy, history[: int(len(history) * where)])
    at_step = int(len(history) * where)
    with contextlib.suppress(InvalidBatch):
        ledger.append([attrs.evolve(switch, id="r-switch", at=at(10 + at_step - 0.5))])
    for n, step in enumerate(history[at_step:], at_step):
        with contextlib.suppress(InvalidBatch):
            ledger.append([to_event(step, n)])
    candidates = [*candidates_from(first, second, fee), (None, None)]  # the last: the rules in force, whichever
    assert_same(ledger, candidates, [None, None, None, ("adl-ranked-v1", {"cash_quantum": "0.01"})])


def test_a_world_that_decides_alike_re_runs_nothing(monkeypatch):
    """Candidates that liquidate nobody differently take every account from what happened: none diverges, no event is
    re-run in full; one that liquidates an account re-runs only that account's later events."""
    reruns: list[str] = []
    original = whatif_module._Worlds.rerun
    monkeypatch.setattr(whatif_module._Worlds, "rerun", lambda self, row, event: (reruns.append(event.id),
                                                                                   original(self, row, event))[1])
    ledger = Ledger.open("memory://")
    ledger.init()
    btc = {"BTC-PERP": {"maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"}}
    ledger.append([listed(), rules(fee="0.002", buffer="0.25", markets=btc), deposit("alice", "1000", t=1),
                   deposit("bob", "100000", t=1), trade("alice", "buy", "0.5", "60000", t=2, id="t-a"),
                   trade("bob", "buy", "0.1", "60000", t=2, id="t-b"), mark("59000", t=3, id="k-1"),
                   deposit("alice", "5", t=4, id="d-a2"), deposit("bob", "5", t=4, id="d-b2"),
                   mark("58900", t=5, id="k-2")])
    params = thaw(ledger.state().rules.params)
    alike = dict(params, liquidation_fee_rate="0.01")
    stricter = dict(params, markets={"BTC-PERP": {"maintenance_margin_rate": "0.1", "initial_margin_rate": "0.2"}})
    result = compare(ledger.store, [("partial-v1", alike), ("partial-v1", stricter)])
    assert reruns == []
    liquidations = result.to_json()["summary"]["USD"]["liquidations"]
    assert liquidations["actual"] == liquidations["partial-v1"] == "0", "the fee alone changes no decision here"
    assert int(liquidations["partial-v1#2"]) > 0, "the stricter rates liquidate alice"
    alike_world, strict_world = (world.differential_world for world in result.worlds)
    assert alike_world.diverged == set() and strict_world.diverged == {"alice"}
    assert not alike_world.handed_over and not strict_world.handed_over
    assert_same(ledger, [("partial-v1", alike), ("partial-v1", stricter)], [None, None])


def test_every_version_gives_a_trigger_key_that_keeps_its_triggers():
    """Each registered version names the part of its params its triggers read: params that differ only elsewhere
    (the fee rate, the buffer, the steps) parse to the same trigger key, and params with other rates do not."""
    base = {"partial-v1": rules(), "full-v1": rules(version="full-v1", buffer=None)}
    for name in registry.names():
        version = registry.get(name)
        activation = base.get(name)
        if activation is None:
            continue
        raw = thaw(activation.params)
        cheaper = dict(raw, liquidation_fee_rate="0.0001")
        riskier = dict(raw, markets={m: dict(r, maintenance_margin_rate="0.2", initial_margin_rate="0.3")
                                     for m, r in raw["markets"].items()})
        assert version.trigger_key(cheaper) == version.trigger_key(raw)
        assert version.trigger_key(riskier) != version.trigger_key(raw)


def test_events_the_admission_would_refuse_are_refused_alike():
    """A log holding events its own admission refuses (stored before a check existed: here behind the pipeline's back):
    a withdrawal below initial margin is refused in every world and the account diverges; a second listing of a
    market hands the world over to the full re-run. Both as the full re-run does."""
    ledger = Ledger.open("memory://")
    ledger.init()
    btc = {"BTC-PERP": {"maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"}}
    ledger.append([listed(), rules(fee="0.002", buffer="0.25", markets=btc), deposit("alice", "1000", t=1),
                   deposit("bob", "100000", t=1), trade("alice", "buy", "0.5", "60000", t=2, id="t-a"),
                   trade("bob", "buy", "0.1", "60000", t=2, id="t-b"), mark("59000", t=3, id="k-1")])
    recorded = "2026-01-01T00:00:00.000000Z"
    ledger.store.append([withdrawal("alice", "800", t=4, id="w-a")], recorded)
    ledger.append([deposit("alice", "5", t=5, id="d-a2"), mark("58000", t=6, id="k-2")])
    ledger.store.append([listed(t=7, id="m-again")], recorded)
    ledger.append([mark("57000", t=8, id="k-3"), deposit("bob", "5", t=9, id="d-b2")])
    params = thaw(ledger.state().rules.params)
    candidates = [("partial-v1", dict(params, liquidation_fee_rate="0.01")),
                  ("partial-v1", dict(params, markets={"BTC-PERP": {"maintenance_margin_rate": "0.1",
                                                                    "initial_margin_rate": "0.2"}}))]
    assert_same(ledger, candidates, [None, None])
    result = compare(ledger.store, candidates)
    assert [r["event"] for r in result.worlds[0].refused] == ["w-a", "m-again"]
    assert all(world.differential_world.handed_over for world in result.worlds)


def test_an_event_every_world_takes_alike_is_journaled_not_followed_world_by_world(monkeypatch):
    """An account's event of an account no world has diverged is taken by every world alike: the pass journals it
    and the worlds take it at their next followed event, instead of each following it (16 worlds × a million
    events: a fifth of a sweep's pass). An account one world diverged is followed by every world; the results stay
    the full re-run's (the properties above hold them to it on generated histories)."""
    from ledger.compliance.differential import DifferentialWorld

    followed: list[str] = []
    original = DifferentialWorld.follow
    monkeypatch.setattr(DifferentialWorld, "follow", lambda self, shared, row, event, key: (
        followed.append(event.id), original(self, shared, row, event, key))[1])
    ledger = Ledger.open("memory://")
    ledger.init()
    btc = {"BTC-PERP": {"maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"}}
    ledger.append([listed(), rules(fee="0.002", buffer="0.25", markets=btc), deposit("alice", "1000", t=1, id="d-a1"),
                   deposit("bob", "100000", t=1, id="d-b1"), trade("alice", "buy", "0.5", "60000", t=2, id="t-a"),
                   mark("59000", t=3, id="k-1"), trade("bob", "buy", "0.1", "59000", t=3.5, id="t-b"),
                   deposit("alice", "5", t=4, id="d-a2"), deposit("bob", "5", t=4, id="d-b2"),
                   mark("58900", t=5, id="k-2")])
    params = thaw(ledger.state().rules.params)
    stricter = dict(params, markets={"BTC-PERP": {"maintenance_margin_rate": "0.1", "initial_margin_rate": "0.2"}})
    candidates = [("partial-v1", dict(params, liquidation_fee_rate="0.01")), ("partial-v1", stricter)]
    result = compare(ledger.store, candidates)
    assert result.worlds[1].differential_world.diverged == {"alice"}
    for journaled in ("d-a1", "d-b1", "t-b", "d-b2"):  # no world had diverged the account (t-b: its market is marked)
        assert journaled not in followed, journaled
    assert followed.count("t-a") == 2, "a trade in a market with no mark yet: every world follows it"
    assert followed.count("d-a2") == 2, "alice diverged in one world: every world follows her events"
    assert_same(ledger, candidates, [None, None])

