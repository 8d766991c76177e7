"""The replay fast path (``ledger.replay.fast_fold``) equals the reference fold.

Equal means the same ``dump_state`` text: every balance with the same digits
and exponent, accounts and assets in the same order, the same position in the
log. Checked on generated histories (with liquidations and bankruptcies, cut
into batches anywhere and resumed from any point, as a snapshot would), on
the shared worked examples on both backends, and as-of every sequence number.
"""

from __future__ import annotations

import gc
import itertools
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.domain.codec import SCHEMA_VERSIONS, encode_payload
from ledger.domain.fold import apply, replay
from ledger.domain.postings import UnbalancedPostings
from ledger.domain.snapshot import dump_state
from ledger.domain.state import AccountState, LedgerState, clone
from ledger.domain.timefmt import format_time
from ledger.replay import load as replay_service
from ledger.replay.fast_fold import HOT_TYPES, fold_rows
from tests.conftest import VECTORS
from tests.support.builders import rules
from tests.support.histories import activations, run_history, steps


def stored(events) -> list[tuple]:
    """The rows an event store would hold for these events (what ``read_batches`` yields)."""
    return [(n, e.TYPE, SCHEMA_VERSIONS[e.TYPE], encode_payload(e)) for n, e in enumerate(events, 1)]


def identities(events):
    """What ``EventStore.identities`` answers for these events, recording every question asked."""
    table = {n: (e.id, format_time(e.at)) for n, e in enumerate(events, 1)}

    def identify(seqs):
        identify.asked.append(list(seqs))
        return {seq: table[seq] for seq in seqs}

    identify.asked = []
    return identify


def orders(state):
    """The order of accounts, and of each one's assets and markets (``dump_state`` sorts them; iteration does not)."""
    return [(name, list(a.cash), list(a.positions), list(a.fees_paid)) for name, a in state.accounts.items()]


def batched(rows, cuts):
    edges = sorted({0, len(rows), *(c % (len(rows) + 1) for c in cuts)})
    return [rows[a:b] for a, b in itertools.pairwise(edges)]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    activation=activations,
    history=st.lists(steps(), min_size=5, max_size=60),
    cuts=st.lists(st.integers(0, 200), max_size=4),
    resume=st.integers(0, 200),
)
def test_the_fast_path_folds_generated_histories_exactly_as_the_reference(activation, history, cuts, resume):
    """The replay's fast path folds generated histories as the reference fold does, in any batching and from any resume point."""
    _, appended, _ = run_history(activation, history)
    rows = stored(appended)
    reference = replay(appended)
    fast = fold_rows(LedgerState(), batched(rows, cuts), identities(appended))
    assert dump_state(fast) == dump_state(reference)
    assert orders(fast) == orders(reference), "accounts, assets and markets in the reference fold's order"

    # resuming from a state part-way (as from a snapshot) thaws the accounts it already holds
    k = resume % (len(rows) + 1)
    start = replay(appended[:k])
    assert dump_state(fold_rows(clone(start), batched(rows[k:], cuts), identities(appended))) == dump_state(reference)


def test_the_generated_histories_exercise_every_path():
    """The property above is only as good as its histories: they hold hot and rare kinds alike."""
    _, appended, _engine = run_history(
        rules(version="partial-v1", fee="0.002", buffer="0.25"),
        [("deposit", "a0", "100"), ("trade", "a0", "BTC-PERP", "buy", "0.5", "60000", "3"),
         ("trade", "a1", "BTC-PERP", "sell", "0.5", "60000", "-0.5"),
         ("trade", "a2", "BTC-PERP", "buy", "0.01", "60000", "0.1"),  # an isolated fill: left to the reference fold
         ("funding", "BTC-PERP", "0.001"), ("mark", "BTC-PERP", "42000"), ("withdrawal", "a2", "10")],
    )
    kinds = {e.TYPE for e in appended}
    assert kinds >= HOT_TYPES and {"market_listed", "rules_activated", "liquidation", "funding", "margin_mode",
                                   "isolated_margin"} <= kinds
    assert any(e.TYPE == "trade" and e.account == "a2" for e in appended)


def test_only_rare_rows_and_the_last_row_are_identified():
    """Hot rows are folded without their id and time: a batch with rare rows asks once, the end asks once."""
    _, appended, _ = run_history(
        rules(version="partial-v1", fee="0.002", buffer="0.25"),
        [("deposit", "a0", "100"), ("trade", "a0", "BTC-PERP", "buy", "0.5", "60000", "3"), ("withdrawal", "a2", "10")],
    )
    rows = stored(appended)
    rare = [seq for seq, kind, _, _ in rows if kind not in HOT_TYPES]
    assert rare and rows[-1][1] in HOT_TYPES
    identify = identities(appended)
    state = fold_rows(LedgerState(), [rows[: rare[-1]], rows[rare[-1]:]], identify)
    assert identify.asked == [rare, [rows[-1][0]]]
    assert (state.seq, state.last_event_id) == (len(appended), appended[-1].id)


def test_zeros_keep_their_sign_and_exponent():
    """Fills that realize a negative zero, or a PnL the fee cancels exactly, leave cash digit for digit."""
    history = [
        ("trade", "a0", "BTC-PERP", "sell", "0.5", "60000", "0"),  # a0 short at 60000
        ("trade", "a1", "BTC-PERP", "buy", "0.5", "60000", "0"),  # a1 long at 60000
        ("trade", "a0", "BTC-PERP", "buy", "0.2", "60000", "0"),  # realizes -0.0 on the short
        ("trade", "a1", "BTC-PERP", "sell", "0.3", "60001.01", "0.303"),  # realizes 0.303, pays 0.303
    ]
    _, appended, _ = run_history(rules(version="partial-v1", fee="0.002", buffer="0.25"), history)
    reference = replay(appended)
    assert str(reference.accounts["a0"].cash["USD"]) == "2000" and str(reference.accounts["a1"].cash["USD"]) == "2000"
    assert dump_state(fold_rows(LedgerState(), [stored(appended)], identities(appended))) == dump_state(reference)


def test_an_unbalanced_start_is_refused_loudly():
    """The fast path books both sides by construction, and still asserts the trial balance."""
    state = LedgerState()
    state.accounts["ghost"] = AccountState("ghost", cash={"USD": Decimal("1")})
    with pytest.raises(UnbalancedPostings, match="trial balance"):
        fold_rows(state, [], identities([]))


def test_the_collector_is_paused_for_the_fold_and_left_as_it_was_found():
    """The fold pauses the cyclic garbage collector (it makes no cycles), and restores it, even when it fails."""
    _, appended, _ = run_history(rules(version="partial-v1", fee="0.002", buffer="0.25"), [("deposit", "a0", "100")])
    seen = []
    table = identities(appended)

    def identify(seqs):
        seen.append(gc.isenabled())
        return table(seqs)

    assert gc.isenabled()
    fold_rows(LedgerState(), [stored(appended)], identify)
    assert seen and not any(seen), "the collector runs during the fold"
    assert gc.isenabled()
    unlisted = (1, "trade", SCHEMA_VERSIONS["trade"],
                '{"account":"a0","fee":"0","market":"NOPE","price":"1","qty":"1","side":"buy"}')
    with pytest.raises(KeyError, match="NOPE"):  # fails inside the fold, in the folder
        fold_rows(LedgerState(), [[unlisted]], identify)
    assert gc.isenabled(), "a failed fold leaves the collector off"
    gc.disable()
    try:
        fold_rows(LedgerState(), [stored(appended)], identify)
        assert not gc.isenabled(), "the fold turned on a collector its caller had turned off"
    finally:
        gc.enable()


@pytest.mark.parametrize("name", sorted(p.name[: -len(".jsonl")] for p in VECTORS.glob("*.jsonl")))
def test_replay_equals_the_reference_fold_on_the_shared_vectors_at_every_point(ledger, name):
    """On every shared vector, the replay equals the reference fold as of every sequence number."""
    ledger.ingest_file(VECTORS / f"{name}.jsonl")
    reference, rows = LedgerState(), list(ledger.store.read())
    assert {r.type for r in rows} - HOT_TYPES, "the vectors hold liquidations or listings"
    for row in rows:
        apply(reference, row.event(), row.seq)
        fast = replay_service.state_at(ledger.store, row.seq, use_snapshots=False)
        assert dump_state(fast) == dump_state(reference), f"as of seq {row.seq}"
