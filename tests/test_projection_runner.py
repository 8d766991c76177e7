"""The projection runner: one loop folds stored events for every observer, and its narrow mode equals the full fold.

Audit, what-if, timeline and history observe ``ledger.replay.runner.project``;
these tests pin what an observer sees (the state before and after each event,
with its postings) and prove the history's narrow strategy (only one account
kept exact) equal to the reference fold for that account, for every account,
on generated histories, kept in the in-memory store.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ledger import InvalidBatch, Ledger
from ledger.domain.snapshot import dump_state
from ledger.replay import load
from ledger.replay.runner import Observer, Unreplayable, project
from ledger.reports.balances import balances
from tests.support.builders import deposit, listed, mark, rules, trade
from tests.support.histories import ACCOUNTS, activations, header, steps, to_event
from tests.support.values import own_figures


class _Balances(Observer):
    """Each account's balances report after every row the runner folds (only ``accounts``)."""

    def __init__(self, accounts):
        self.accounts = accounts
        self.seen = {}

    def after(self, state, row, event, postings):
        for name in self.accounts:
            if name in state.accounts:
                self.seen[row.seq, name] = own_figures(balances(state, name, system=False)["accounts"][name])


def generated_ledger(activation, history) -> Ledger:
    ledger = Ledger.open("memory://")
    ledger.init()
    ledger.append(header(activation))
    for n, step in enumerate(history):
        with contextlib.suppress(InvalidBatch):  # a refused record stores nothing, as at ingest
            ledger.append([to_event(step, n)])
    return ledger


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(activation=activations, history=st.lists(steps(), min_size=5, max_size=60))
def test_the_narrow_fold_equals_the_reference_for_every_account(activation, history):
    """After every row it folds, and at the end, the narrow state's account equals the full fold's, valuation included."""
    ledger = generated_ledger(activation, history)
    full = _Balances(ACCOUNTS)
    whole = project(ledger.store, observers=[full])
    assert dump_state(whole) == dump_state(load.state_at(ledger.store, use_snapshots=False))
    for name in ACCOUNTS:
        narrow = _Balances([name])
        state = project(ledger.store, observers=[narrow], narrow_to=name)
        assert narrow.seen, "the account's own rows were folded"
        for (seq, _), report in narrow.seen.items():
            assert report == full.seen[seq, name], f"{name} after #{seq}"
        assert own_figures(balances(state, name, system=False)["accounts"].get(name)) == \
            own_figures(balances(whole, name, system=False)["accounts"].get(name))


def test_an_observer_sees_the_state_before_and_after_each_event_with_its_postings():
    """An observer sees the state before each event and after it, together with that event's postings."""
    ledger = Ledger.open("memory://")
    ledger.init()
    ledger.append([listed(), deposit("alice", "100", t=1), trade("alice", "buy", "0.001", "60000", t=2)])
    seen = []

    class Watch(Observer):
        def before(self, state, row, event):
            seen.append(("before", row.seq, state.seq, event.id))

        def after(self, state, row, event, postings):
            seen.append(("after", row.seq, state.seq, sum(p.amount for p in postings)))

    project(ledger.store, observers=[Watch()], upto_seq=2)
    assert seen == [("before", 1, 0, "m-BTC-PERP"), ("after", 1, 1, 0), ("before", 2, 1, "d-alice-1"), ("after", 2, 2, 0)]


def test_progress_counts_every_row_read_even_those_the_narrow_fold_passes_over():
    """Progress counts every row read, even those a projection narrowed to one account passes over."""
    ledger = Ledger.open("memory://")
    ledger.init()
    ledger.append([listed(), deposit("alice", "100", t=1), deposit("bob", "5", t=1), mark("60000", t=2)])
    counted = []
    project(ledger.store, narrow_to="alice", progress=counted.append)
    assert sum(counted) == 4


def test_a_row_that_cannot_be_folded_stops_the_projection_naming_it():
    """A stored liquidation of a position that does not exist: the fold's invariant refuses it."""
    from ledger.domain import events as ev
    from ledger.domain.money import ZERO

    ledger = Ledger.open("memory://")
    ledger.init()
    ledger.append([listed(), deposit("alice", "100", t=1)])
    bogus = ev.Liquidation.of(
        id="bogus", at=deposit("alice", "1", t=2).at, account="alice", market="BTC-PERP", side="sell", qty=ZERO + 1,
        price=ZERO + 1, penalty=ZERO, rule_version="partial-v1", trigger="k", reason="r", equity_before=ZERO,
        maintenance_before=ZERO, target_before=ZERO, equity_after=ZERO, maintenance_after=ZERO, target_after=ZERO,
        required_qty=None,
    )
    ledger.store.append([bogus], "2026-01-01T00:00:00.000000Z")  # behind the pipeline's back
    with pytest.raises(Unreplayable, match="event bogus \\(#3\\) cannot be folded") as caught:
        project(ledger.store)
    assert caught.value.kind == "unreplayable" and caught.value.row.seq == 3


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(activation=activations, history=st.lists(steps(), min_size=5, max_size=60), other=activations)
@example(activation=rules("partial-v1", fee="0", buffer="0"), other=rules("partial-v1", fee="0", buffer="0"),
         history=[("trade", "a0", "ETH-PERP", "buy", "2.54", "2955", "0"), ("trade", "a0", "ETH-PERP", "sell", "2.34", "2100", "0"),
                  ("loss_allocation", "adl-ranked-v1", "0.00000001", "notional"),
                  ("trade", "a1", "ETH-PERP", "sell", "0.01", "2958", "0"), ("mark", "ETH-PERP", "2955")])
def test_a_what_if_from_the_start_equals_forking_the_folded_actual_world(activation, history, other):
    """The what-if with no window start re-runs only the alternative world and folds the actual one on the fast path
    (or takes it from a sweep); it must give what forking the actual world at the first event gives: the runner's
    observer path, taken here by a window starting before any event."""
    from datetime import UTC, datetime

    from ledger.compliance.whatif import actual_world, compare, whatif
    from ledger.domain.events import thaw

    ledger = generated_ledger(activation, history)
    version, params = other.version, thaw(other.params)  # every registered version, with the params it is generated with
    fast = whatif(ledger.store, version, params)
    forked = whatif(ledger.store, version, params, start=datetime(2000, 1, 1, tzinfo=UTC))
    given_actual = whatif(ledger.store, version, params, actual=actual_world(ledger.store, None))
    for other in (forked, given_actual):
        assert dump_state(fast.alternative_state) == dump_state(other.alternative_state)
        assert dump_state(fast.actual_state) == dump_state(other.actual_state)
        assert {k: v for k, v in fast.to_json().items() if k != "window"} == \
               {k: v for k, v in other.to_json().items() if k != "window"}
    pair = [(version, params), ("full-v1", {k: v for k, v in params.items() if k == "markets"} | {
        "liquidation_fee_rate": "0.001"})] if "markets" in params and all(
        "maintenance_margin_rate" in m for m in params["markets"].values()) else [(version, params)] * 2
    both = compare(ledger.store, pair)
    both_forked = compare(ledger.store, pair, start=datetime(2000, 1, 1, tzinfo=UTC))
    assert {k: v for k, v in both.to_json().items() if k != "window"} == \
           {k: v for k, v in both_forked.to_json().items() if k != "window"}
