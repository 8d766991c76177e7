"""The write paths' fold of the everyday kinds (``ledger.domain.fast_apply``) equals the reference fold.

After every event of generated histories (every rule version and loss-allocation
policy; deposits, withdrawals, fills with fees and rebates, marks, funding,
isolated margin, liquidations, bankruptcies, deleveraging), the state folded
with ``apply_fast`` dumps exactly as the state folded with ``fold.apply``, and
its position in the log is the same; and an append, which decides on it,
stores what a reference-fold append stores.
"""

from __future__ import annotations

from decimal import Decimal
from types import MappingProxyType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import InvalidBatch
from ledger.domain import events as ev
from ledger.domain import fast_apply
from ledger.domain.fold import apply
from ledger.domain.snapshot import dump_state
from ledger.domain.state import AccountState, LedgerState
from ledger.engine import session
from ledger.engine.session import fold_batch
from tests.support.builders import deposit, listed, margin_mode, trade, withdrawal
from tests.support.histories import activations, header, policies, steps, to_event


def appended(history, activation, policy) -> list[ev.Event]:
    """What an append stores for ``history`` (refused records left out), its engine's events included."""
    state, events = LedgerState(), []
    for event in header(activation, policy) + [to_event(step, n) for n, step in enumerate(history)]:
        try:
            events += fold_batch(state, [(event.id, event)]).to_append
        except InvalidBatch:
            continue
    return events


def position(state: LedgerState) -> tuple:
    return state.seq, state.last_at, state.last_event_id, state.events_applied


def read_only(account: AccountState) -> bool:
    """Its mappings are read-only views, as the reference fold's are: states share them (an account's value is copied
    only where an event changes it), and neither a dump nor ``==`` would tell a plain dict apart."""
    return all(type(mapping) is MappingProxyType
               for mapping in (account.cash, account.positions, account.fees_paid, account.isolated))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(activation=activations, history=st.lists(steps(), min_size=5, max_size=80), policy=policies)
def test_the_fast_apply_equals_the_reference_fold_after_every_event(activation, history, policy):
    """Event by event, the two folds reach states that dump alike, at the same place in the log."""
    reference, fast = LedgerState(), LedgerState()
    events = appended(history, activation, policy)
    for seq, event in enumerate(events, 1):
        apply(reference, event, seq)
        fast_apply.apply_fast(fast, event, seq)
        assert dump_state(fast) == dump_state(reference), f"after {event.id}"
        assert position(fast) == position(reference)
        assert all(read_only(account) for account in fast.accounts.values()), f"after {event.id}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(activation=activations, history=st.lists(steps(), min_size=5, max_size=60), policy=policies)
def test_an_append_on_the_fast_apply_stores_what_one_on_the_reference_fold_stores(activation, history, policy):
    """The engine decides on the fast apply's state: the events it stores are the reference fold's, one for one."""
    fast = appended(history, activation, policy)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(session, "apply_fast", lambda state, event, seq=None: apply(state, event, seq))
        reference = appended(history, activation, policy)
    assert fast == reference


def test_each_everyday_kind_takes_the_fast_way_and_an_isolated_fill_the_reference_one(monkeypatch):
    """Deposits, withdrawals, cross fills and marks never reach the reference fold; a fill of an isolated position
    (its postings go to the isolated margin) and every other kind do."""
    taken = []
    monkeypatch.setattr(fast_apply, "apply", lambda state, event, seq=None: taken.append(event.id) or apply(state, event, seq))
    state = LedgerState()
    for event in [listed("BTC-PERP"), deposit("alice", "1000"), withdrawal("alice", "10"),
                  trade("alice", "buy", "0.01", "60000", fee="0.5", id="t-cross"),
                  margin_mode("bob", "isolated", id="mm-bob"), deposit("bob", "100", id="d-bob"),
                  trade("bob", "sell", "0.01", "60000", id="t-isolated")]:
        fast_apply.apply_fast(state, event)
    assert taken == ["m-BTC-PERP", "mm-bob", "t-isolated"]
    assert state.accounts["alice"].cash["USD"] == Decimal("1000") - Decimal("10") - Decimal("0.5")


def test_events_no_admission_lets_through_fold_alike():
    """Stored logs from before a check existed hold events today's admission refuses: a fill at no fee by an account
    that holds no cash (its cash gets an entry of zero), a withdrawal into the red. Both folds take them alike, and
    give the same system movements (a what-if pass over such a log hands them to its worlds)."""
    events = [listed("BTC-PERP"), trade("carol", "buy", "0.01", "60000", id="t-1"),
              trade("dave", "sell", "0.01", "60000", fee="-0.25", id="t-2"), withdrawal("erin", "5", id="w-1"),
              trade("carol", "sell", "0.01", "60000", id="t-3")]
    reference, fast = LedgerState(), LedgerState()
    for event in events:
        postings = apply(reference, event)
        moves = fast_apply.apply_fast(fast, event)
        assert dump_state(fast) == dump_state(reference), f"after {event.id}"
        assert [(b, a, str(x)) for b, a, x in moves] == [
            (p.account, p.asset, str(p.amount)) for p in postings if p.book == "system"], f"at {event.id}"
    assert fast.accounts["carol"].cash == {"USD": 0}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(activation=activations, history=st.lists(steps(), min_size=5, max_size=80), policy=policies)
def test_the_fast_apply_returns_the_reference_postings_system_movements(activation, history, policy):
    """A what-if pass hands each event's system movements to its worlds: they are the reference fold's system
    postings, amount for amount (exponent included) and in their order."""
    reference, fast = LedgerState(), LedgerState()
    for seq, event in enumerate(appended(history, activation, policy), 1):
        postings = apply(reference, event, seq)
        expected = [(p.account, p.asset, p.amount) for p in postings if p.book == "system"]
        moves = fast_apply.apply_fast(fast, event, seq)
        assert [(b, a, str(x)) for b, a, x in moves] == [(b, a, str(x)) for b, a, x in expected], f"at {event.id}"
