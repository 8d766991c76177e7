"""Writers taking turns on one database decide exactly what one writer decides.

A writer that finds other writers' rows at the head carries its warm state and
its liquidation index over them (``EngineSession.carry_over``,
``LiquidationIndex.carried_over``) instead of replaying the log, or rebuilding
the index, under the log's lock. The index is only a filter (the engine checks
every candidate exactly), so a wrong carry-over shows as a decision missed.
Here every generated history, its events handed to two writers in a drawn
order, must leave the log as one writer leaves it, byte for byte and hash for
hash; and a funding another writer appended, which drew an account's reserve
down unseen, must still let the next mark find it.
"""

from __future__ import annotations

import contextlib
import tempfile

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ledger import InvalidBatch, Ledger
from ledger.domain.events import stream_of
from ledger.domain.fold import apply
from ledger.domain.snapshot import dump_state
from ledger.domain.state import LedgerState, clone
from ledger.engine.candidates import LiquidationIndex
from ledger.engine.liquidation import on_price
from ledger.engine.session import fold_batch
from tests.conftest import fixed_clock
from tests.support.builders import deposit, funding, mark, rules, tiered, trade
from tests.support.histories import activations, header, steps, to_event


def _log(ledger: Ledger) -> list[tuple]:
    return [(r.seq, r.event_id, r.type, r.payload, r.hash) for r in ledger.store.read()]


def _append(ledger: Ledger, event) -> None:
    with contextlib.suppress(InvalidBatch):  # refused alike by both setups: the states they decide on are the same
        ledger.append_located([(event.id, event)])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(activation=activations, history=st.lists(steps(), min_size=5, max_size=50),
       turns=st.lists(st.booleans(), min_size=8, max_size=30))
def test_two_writers_taking_turns_decide_what_one_writer_decides(activation, history, turns):
    """Two writers taking turns on one database leave the same log as one writer, byte for byte and hash for hash."""
    marked = [mark("60000", t=2, id="k0-btc"), mark("3000", market="ETH-PERP", t=2, id="k0-eth")]  # a warm index
    events = header(activation) + marked + [to_event(step, n) for n, step in enumerate(history)]
    with tempfile.TemporaryDirectory() as tmp:
        with Ledger.open(f"sqlite:///{tmp}/one.db", clock=fixed_clock) as alone:
            alone.init()
            for event in events:
                _append(alone, event)
            expected = _log(alone)
        url = f"sqlite:///{tmp}/two.db"
        with Ledger.open(url, clock=fixed_clock) as first, Ledger.open(url, clock=fixed_clock) as second:
            first.init()
            for n, event in enumerate(events):
                _append(first if turns[n % len(turns)] else second, event)
            assert _log(first) == expected


def _opening(*fills) -> list:
    """Both markets marked (the index is built and stays warm), then a0's fills (default: long 0.1 BTC at 60,000),
    on its 2,000."""
    fills = fills or (trade("a0", "buy", "0.1", "60000", t=5, id="t-a0"),)
    return [*header(rules(version="partial-v1", fee="0.002", buffer="0.25")), *fills,
            mark("60000", t=6, id="k-btc"), mark("3000", market="ETH-PERP", t=6, id="k-eth")]


_BOTH = (trade("a0", "buy", "0.05", "60000", t=5, id="t-btc"),
         trade("a0", "buy", "1", "3000", market="ETH-PERP", t=5, id="t-eth"))
"""a0 long in both markets: its buffer split between two triggers (BTC at about 40,412, ETH at about 2,015.66)."""

OTHERS = {
    # (a0's fills, what the second writer appends, the first writer's mark: one that distresses a0 only after it)
    "a funding that draws a0's reserve down (5%: 300 of its 2,000)":
        ((), funding("0.05", t=7, id="f-btc"), mark("42000", t=8, id="k-drop")),  # from 40,201 down before it
    "a trade that doubles a0's position":
        ((), trade("a0", "buy", "0.1", "60000", t=7, id="t-more"), mark("48000", t=8, id="k-drop")),
    "a mark past a0's trigger in one market, distressing it only with the next in the other":
        # BTC at 35,000 is past a0's BTC trigger but distresses nothing alone; ETH at 2,200 is above a0's ETH trigger
        # as indexed at BTC 60,000, and distresses a0 only after BTC fell (at or below 2,281)
        (_BOTH, mark("35000", t=7, id="k-btc-drop"), mark("2200", market="ETH-PERP", t=8, id="k-eth-drop")),
}


@pytest.mark.parametrize("other", sorted(OTHERS))
def test_what_another_writer_appended_is_seen_by_the_next_mark(db_url, monkeypatch, other):
    """The second writer appends something that moves a0; the first writer's next mark is one that distresses a0
    only because of it. The first writer carries its index over (no rebuild) and liquidates a0 as one writer does."""
    fills, moved, after = OTHERS[other]
    with Ledger.open("memory://", clock=fixed_clock) as alone:  # one writer: the log the two must leave
        alone.init()
        alone.append_located([(e.id, e) for e in _opening(*fills)])
        assert alone.append_located([(moved.id, moved)]).engine_events == 0, "the second writer liquidates no one"
        decided = alone.append_located([(after.id, after)])
        expected = _log(alone)
    assert decided.engine_events >= 1, "the mark liquidates a0 once it has moved"
    with Ledger.open("memory://", clock=fixed_clock) as unmoved:
        unmoved.init()
        unmoved.append_located([(e.id, e) for e in _opening(*fills)])
        assert unmoved.append_located([(after.id, after)]).engine_events == 0, "the mark alone distresses no one"

    with Ledger.open(db_url, clock=fixed_clock) as first, Ledger.open(db_url, clock=fixed_clock) as second:
        first.init()
        first.append_located([(e.id, e) for e in _opening(*fills)])
        assert first._unit.warm is not None and not first._unit.warm.index.stale, "the first writer's index is built and warm"
        second.append_located([(moved.id, moved)])

        def no_rebuild(self, state):
            raise AssertionError("the first writer rebuilt its index instead of carrying it over")

        monkeypatch.setattr(LiquidationIndex, "rebuild", no_rebuild)
        assert first.append_located([(after.id, after)]).engine_events == decided.engine_events
        assert _log(first) == expected


@pytest.mark.parametrize("kind", ["rules_activated", "trade in an unmarked market"])
def test_what_moves_every_account_leaves_the_index_to_be_rebuilt(kind):
    """A rule activation, or a trade in a market without a price yet, carried over leaves the liquidation index stale."""
    from ledger.domain.money import ZERO
    from ledger.domain.state import MarketState

    state = LedgerState()
    state.markets["BTC-PERP"] = MarketState("BTC-PERP", "USD", ZERO, "m", None, None)
    index = LiquidationIndex()
    index.stale = False
    rows = [("rules_activated", "system")] if kind == "rules_activated" else [("trade", "account:a0")]
    index.carried_over(state, rows)
    assert index.stale


def test_a_catch_up_longer_than_the_index_rebuilds_it_at_the_next_mark(tmp_path, monkeypatch):
    """Beyond the index's size (at least ``CATCH_UP_ROWS`` rows), re-indexing row by row costs more than a rebuild:
    the index is left stale, rebuilt once at the next mark, and decides the same."""
    import ledger.engine.session as engine_session

    _, moved, after = OTHERS["a trade that doubles a0's position"]
    others = [moved, deposit("a1", "5", t=7, id="d-more")]  # two rows, against the index's one entry (a0's long)
    with Ledger.open(f"sqlite:///{tmp_path}/alone.db", clock=fixed_clock) as alone:
        alone.init()
        for batch in (_opening(), others, [after]):
            alone.append_located([(e.id, e) for e in batch])
        expected = _log(alone)
    monkeypatch.setattr(engine_session, "CATCH_UP_ROWS", 0)
    rebuilt = []
    real_rebuild = LiquidationIndex.rebuild
    monkeypatch.setattr(LiquidationIndex, "rebuild", lambda self, state: (rebuilt.append(state.seq), real_rebuild(self, state)))
    url = f"sqlite:///{tmp_path}/two.db"
    with Ledger.open(url, clock=fixed_clock) as first, Ledger.open(url, clock=fixed_clock) as second:
        first.init()
        first.append_located([(e.id, e) for e in _opening()])
        assert first._unit.warm is not None and first._unit.warm.index.size() < len(others)
        second.append_located([(e.id, e) for e in others])
        rebuilt.clear()
        first.append_located([(after.id, after)])
        assert rebuilt, "the index was carried over a catch-up longer than itself"
        assert _log(first) == expected


def _pipeline(events, index: LiquidationIndex | None) -> tuple[LedgerState, list[list]]:
    """One writer's fold of ``events``, one batch each: the state, and what each event appended (itself and the
    engine's events after it; nothing if refused)."""
    state, appended = LedgerState(), []
    for event in events:
        try:
            appended.append(fold_batch(state, [(event.id, event)], index=index).to_append)
        except InvalidBatch:
            appended.append([])
    return state, appended


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(activation=activations, history=st.lists(steps(), min_size=5, max_size=40), cut=st.integers(0, 40),
       offset=st.integers(0, 24), jumps=st.lists(st.tuples(st.sampled_from(["BTC-PERP", "ETH-PERP"]),
                                                           st.integers(600, 1400)), min_size=1, max_size=3))
@example(  # the carry-over leaves the index stale (an auto-deleveraging), so the first hypothetical mark rebuilds it
    activation=tiered(fee="0", buffer="0"),  # from its own state (BTC at 10,800): asked again about ETH at 2,100 with
    history=[("trade", "a0", "BTC-PERP", "buy", "0.093", "59100", "0"),  # BTC at 36,000, that index missed a1
             ("loss_allocation", "adl-ranked-v1", "0.00000001", "notional"), ("mark", "ETH-PERP", "2100"),
             ("trade", "a1", "BTC-PERP", "sell", "0.080", "59100", "0"),
             ("trade", "a1", "ETH-PERP", "buy", "4.36", "2955", "0")],
    cut=0, offset=0, jumps=[("BTC-PERP", 600)],
)
def test_an_index_carried_over_names_every_account_a_mark_would_distress(activation, history, cut, offset, jumps):
    """The index's promise, checked where it is carried over: a writer folds the first part of a history with its
    index, another writer appends the rest (with the engine's decisions), and the first carries its index over
    those rows. Then, at hypothetical marks in every market, the accounts the index names decide exactly what
    checking every holder decides: no distressed account is left out. The marks span 30% to 170% of each market's
    price, every 2.5% (shifted by a drawn offset): a wrong index is wrong in a band of prices, which a few random
    marks seldom hit. The other writer's rows end with a jump or two of the marks (60% to 140%). It fails when the
    accounts the other writer moved, or the holders of a market it funded, are not re-indexed; a mark that takes an
    account past its trigger in one market without distressing it is rarer in these histories than that, and is
    pinned above instead (this property did not find it).

    Each hypothetical mark asks the index as the one next mark would: a carry-over that leaves it stale (an
    auto-deleveraging among the rows) has it rebuilt by that mark, from that mark's state, so each hypothetical asks
    an index of its own, stale as the carried-over one; an index rebuilt at one hypothetical price must not be asked
    about another (the example above: rebuilt with BTC at 10,800, it missed an account distressed with BTC at
    36,000). A carried-over index that is not stale is only queried."""
    opening = [mark("60000", t=2, id="k0-btc"), mark("3000", market="ETH-PERP", t=2, id="k0-eth")]
    base = {"BTC-PERP": 60000, "ETH-PERP": 3000}
    tail = [mark(str(base[m] * permille / 1000), market=m, t=1_000 + n, id=f"jump-{n}") for n, (m, permille) in
            enumerate(jumps)]
    events = header(activation) + opening + [to_event(step, n) for n, step in enumerate(history)] + tail
    k = len(events) - len(tail) - len(history) + cut % (len(history) + 1)
    whole, appended = _pipeline(events, LiquidationIndex())
    index = LiquidationIndex()
    state, _ = _pipeline(events[:k], index)
    others = [e for batch in appended[k:] for e in batch]
    for event in others:
        apply(state, event)
    index.carried_over(state, [(e.TYPE, stream_of(e)) for e in others])
    assert dump_state(state) == dump_state(whole)
    for market in sorted(state.markets):
        price = state.markets[market].price
        if price is None or state.rules is None:
            continue
        for n, permille in enumerate(range(300 + offset, 1700, 25)):
            hypothetical = mark(str(price * permille / 1000), market=market, t=10_000 + n, id=f"what-if-{market}-{n}")
            everyone, named = clone(state), clone(state)
            apply(everyone, hypothetical)
            apply(named, hypothetical)
            exhaustive = on_price(everyone, hypothetical)
            asked = LiquidationIndex() if index.stale else index  # a new index is stale: rebuilt as the stale one is
            assert on_price(named, hypothetical, accounts=asked.price_candidates(named, hypothetical)) == exhaustive
