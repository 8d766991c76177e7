"""The liquidation index's books stay the size of what they hold when accounts are re-indexed to the same triggers.

A mark re-indexes every account it examined (its buffer moved with the
price). An account whose buffer is within its funding reserve keeps the very
same trigger (always crossed) mark after mark; each re-index used to leave a dead entry in its
book that every later mark walked, until the book was swept (up to
``SWEEP_FROM`` of them per book: most of a what-if world's work once it held
such an account). The exactness of the index against a full scan is held by
``tests/test_properties.py``; this holds its size.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.domain.state import LedgerState
from ledger.engine.candidates import LiquidationIndex
from ledger.engine.session import fold_batch
from ledger.engine.views import account_view, isolated_view, open_scopes, scope_views
from rules.base import AccountView, scope_positions
from tests.support.builders import deposit, listed, mark, rules, trade
from tests.support.histories import activations, generated_ledger, policies, steps

FLAT = {"BTC-PERP": {"maintenance_margin_rate": "0.005", "initial_margin_rate": "0.005"}}


def _state(events) -> LedgerState:
    state = LedgerState()
    for event in events:
        fold_batch(state, [(event.id, event)], index=None)
    return state


def _books(index: LiquidationIndex) -> list[tuple[int, int, int]]:
    """(entries in the heap, live, dead) of every book."""
    books = [*index._longs.values(), *index._shorts.values()]
    return [(len(book.heap), len(book.live), book.dead_count) for book in books]


def test_re_indexing_an_account_to_the_same_triggers_leaves_no_dead_entry():
    """Re-indexed a hundred times on the same state, an account keeps its one entry per book; a fill that moves its
    triggers replaces it (one dead entry), and the candidates are the same as a fresh index's."""
    state = _state([listed(t=0), rules(version="partial-v1", fee="0.002", buffer="0.25", markets=FLAT, t=0.5),
                    deposit("alice", "55", t=1, id="d-a"), deposit("bob", "100000", t=1, id="d-b"),
                    trade("alice", "buy", "1", "10000", t=2, id="t-a"), trade("bob", "sell", "1", "10000", t=2, id="t-b"),
                    mark("10000", t=3, id="k-0")])
    index = LiquidationIndex()
    index.rebuild(state)
    assert index.candidates("BTC-PERP", state.markets["BTC-PERP"].price) == ["alice"], "alice's buffer (5) is within her funding reserve (10): always a candidate, never distressed"
    before = _books(index)
    assert before == [(1, 1, 0), (1, 1, 0)], "one long (alice), one short (bob)"
    for _ in range(100):
        index.refresh(state, ["alice", "bob"])
    assert _books(index) == before
    later = _state([listed(t=0), rules(version="partial-v1", fee="0.002", buffer="0.25", markets=FLAT, t=0.5),
                    deposit("alice", "55", t=1, id="d-a"), deposit("bob", "100000", t=1, id="d-b"),
                    trade("alice", "buy", "1", "10000", t=2, id="t-a"), trade("bob", "sell", "1", "10000", t=2, id="t-b"),
                    mark("10000", t=3, id="k-0"), trade("bob", "sell", "1", "9950", t=4, id="t-b2"),
                    trade("alice", "buy", "1", "9950", t=4, id="t-a2")])
    index.account_changed(later, "bob")
    assert sorted(_books(index)) == sorted([(1, 1, 0), (2, 1, 1)]), "bob's short moved: his old entry is dead"
    fresh = LiquidationIndex()
    fresh.rebuild(later)
    index.account_changed(later, "alice")
    for price in ("9000", "9950", "10000", "11000", "20000"):
        assert index.candidates("BTC-PERP", Decimal(price)) == fresh.candidates("BTC-PERP", Decimal(price)), price


def test_a_re_index_to_the_same_triggers_starts_the_funding_allowance_afresh():
    """Kept entries are still a re-index: the funding the account may pay before its triggers must be recomputed
    starts again from its reserve now (as a fresh index has it), not from what earlier payments left of it."""
    state = _state([listed(t=0), rules(version="partial-v1", fee="0.002", buffer="0.25", markets=FLAT, t=0.5),
                    deposit("alice", "55", t=1, id="d-a"), deposit("bob", "100000", t=1, id="d-b"),
                    trade("alice", "buy", "1", "10000", t=2, id="t-a"), trade("bob", "sell", "1", "10000", t=2, id="t-b"),
                    mark("10000", t=3, id="k-0")])
    index, fresh = LiquidationIndex(), LiquidationIndex()
    index.rebuild(state)
    fresh.rebuild(state)
    index._allowance["alice"] = Decimal("-1")  # as if earlier payments had used her reserve up
    books = _books(index)
    index.account_changed(state, "alice")
    assert _books(index) == books, "the same triggers: the entries kept"
    assert index._allowance["alice"] == fresh._allowance["alice"] > 0


def test_an_account_whose_triggers_keep_moving_leaves_a_small_book_few_dead_entries():
    """A what-if world's own index holds a few diverged accounts, re-indexed to other triggers at nearly every event;
    each re-index leaves a dead entry that every crossing mark walks until the book is swept. A small book is swept
    once its dead entries pass ``SWEEP_FROM`` (32; it was 1,024, and walking them was 7% of a 16-candidate sweep's
    pass), so it never holds more than that beside its live ones, and its candidates stay a fresh index's."""
    from ledger.engine.trigger_books import SWEEP_FROM

    def moved(size: str):
        return _state([listed(t=0), rules(version="partial-v1", fee="0.002", buffer="0.25", markets=FLAT, t=0.5),
                       deposit("alice", "1000", t=1, id="d-a"), trade("alice", "buy", size, "10000", t=2, id="t-a"),
                       mark("10000", t=3, id="k-0")])

    states = [moved("0.5"), moved("0.6")]
    index = LiquidationIndex()
    index.rebuild(states[0])
    for n in range(300):
        index.account_changed(states[n % 2], "alice")  # her triggers differ in the two states: one dead entry each
    [(entries, live, dead)] = _books(index)
    assert live == 1 and dead <= SWEEP_FROM and entries == live + dead <= 33
    fresh = LiquidationIndex()
    fresh.rebuild(states[1])
    for price in ("9000", "9500", "9990", "10000"):
        assert index.candidates("BTC-PERP", Decimal(price)) == fresh.candidates("BTC-PERP", Decimal(price)), price


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(activation=activations, policy=policies, history=st.lists(steps(), min_size=3, max_size=40))
def test_the_index_builds_an_account_s_scopes_as_account_view_and_isolated_view_do(activation, policy, history):
    """``open_scopes`` (one pass over an account's positions, as the index re-indexes at every fill) gives
    ``account_view`` for each settle asset of its open cross positions, in asset order, then ``isolated_view`` for
    each open isolated position, in market order, for every account of a generated history: as views built from
    its plain positions (``scope_views``), and as those plain positions (``scope_positions`` of the views, what a
    version's ``scope_triggers`` reads)."""
    state = generated_ledger(activation, policy, history).state()
    for name, acct in state.accounts.items():
        assets = sorted({state.markets[market].settle_asset for market in acct.cross_markets()})
        alone = [market for market in acct.open_markets() if acct.is_isolated(market)]
        expected = [account_view(state, name, a) for a in assets] + [
            isolated_view(state, name, market) for market in alone]
        scopes = open_scopes(state, name)
        assert [AccountView(name, asset, cash, scope_views(state, positions))
                for asset, cash, positions in scopes] == expected
        assert [(view.settle_asset, view.cash, scope_positions(view)) for view in expected] == scopes


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(activation=activations, policy=policies, history=st.lists(steps(), min_size=3, max_size=40))
def test_a_version_s_plain_triggers_index_as_its_triggers_on_views_do(activation, policy, history):
    """The index's entries and funding allowance for every account of a generated history are the same whether it
    asks the version's ``scope_triggers`` or, as for a version without them, its ``triggers`` on views built from
    the plain positions (``scope_views``): the fallback no shipped version takes is held to the path they take."""
    state = generated_ledger(activation, policy, history).state()
    plain, by_views = LiquidationIndex(), LiquidationIndex()
    asked = by_views._deciding
    by_views._deciding = lambda in_force: (*asked(in_force)[:2], None, None)  # type: ignore[method-assign]  # no plain path

    def text(found):
        entries, allowance = found
        return [(market, long, str(price)) for market, long, price in entries], str(allowance)
    if state.rules is None:
        return
    for name in sorted(state.accounts):
        assert text(plain._triggers(state, name)) == text(by_views._triggers(state, name)), name


_BOOK_STEPS = st.integers(min_value=1, max_value=60).flatmap(lambda pool: st.lists(
    st.tuples(st.sampled_from(["add", "drop", "ask"]), st.integers(min_value=0, max_value=pool - 1),
              st.integers(min_value=90, max_value=110)), min_size=100, max_size=400))
"""Steps on a book of up to 60 accounts: up to 16 live ones keep the rebuild's floor (``SWEEP_FROM``) the
threshold, more make it twice the live ones (``SWEEP_RATIO``)."""


@settings(max_examples=100, deadline=None)
@given(is_long=st.booleans(), book_steps=_BOOK_STEPS)
def test_a_trigger_book_names_exactly_the_live_triggers_a_price_crosses(is_long, book_steps):
    """A book against a plain model, over generated adds, drops and queries: a query names exactly the accounts
    whose live trigger the price crosses (a long's at or above it, a short's at or below it), never one through a
    dead entry (an account's earlier trigger, still in the heap); the dead entries are the model's, rebuilt away
    exactly when they pass ``SWEEP_RATIO`` times the live ones or ``SWEEP_FROM``, after which the heap holds only
    the live ones."""
    from ledger.engine.trigger_books import SWEEP_FROM, SWEEP_RATIO, TriggerBook

    book, model, dead = TriggerBook(is_long), {}, 0

    def dropped() -> int:  # the model's dead count after one more drop
        return 0 if dead + 1 > max(SWEEP_RATIO * len(model), SWEEP_FROM) else dead + 1

    for action, number, figure in book_steps:
        account, price = f"acct{number:02d}", Decimal(figure)
        if action == "add":
            if account in model:  # a re-index: its old entry dies first, as ``LiquidationIndex._remove`` does it
                del model[account]
                dead = dropped()
                book.drop(account)
            book.add(price, account)
            model[account] = price
        elif action == "drop" and account in model:
            del model[account]
            dead = dropped()
            book.drop(account)
        crossed = {name for name, trigger in model.items() if (price <= trigger if is_long else price >= trigger)}
        assert sorted(book.crossed(price)) == sorted(crossed), (action, account, price)
        assert len(book) == len(model) and book.dead_count == dead and len(book.heap) == len(model) + dead
        if not dead:
            assert sorted(entry[1] for entry in book.heap) == sorted(model)


@pytest.mark.parametrize("accounts", [4, 40])
def test_a_trigger_book_is_rebuilt_at_its_threshold_and_keeps_its_candidates(accounts):
    """Every account re-indexed again and again to a trigger that moves: the book is rebuilt at ``SWEEP_FROM`` dead
    entries with few accounts, at ``SWEEP_RATIO`` times its live ones with many, holds only live entries after, and
    names the same accounts as a book built afresh from the live triggers."""
    from ledger.engine.trigger_books import SWEEP_FROM, SWEEP_RATIO, TriggerBook

    book, fresh_triggers = TriggerBook(False), {}
    names = [f"acct{n:02d}" for n in range(accounts)]
    for name in names:
        book.add(Decimal(100), name)
    threshold, rebuilds = max(SWEEP_RATIO * accounts, SWEEP_FROM), 0
    for round_ in range(1, 4 * threshold // accounts + 2):
        for n, name in enumerate(names):
            book.drop(name)
            fresh_triggers[name] = Decimal(100 + (round_ * 7 + n) % 11)
            book.add(fresh_triggers[name], name)
            if book.dead_count == 0:
                rebuilds += 1
                assert len(book.heap) == accounts
    assert rebuilds >= 3, "the loop passes the threshold at least three times"
    fresh = TriggerBook(False)
    for name, trigger in fresh_triggers.items():
        fresh.add(trigger, name)
    for price in range(98, 113):
        assert sorted(book.crossed(Decimal(price))) == sorted(fresh.crossed(Decimal(price))), price


def test_a_version_giving_one_market_two_triggers_on_one_side_is_stopped():
    """A version gives one trigger per open position (``rules.base.Trigger``), so an account holds at most one
    entry per book. A second would leave the first dead though it may be the more exposed (a mark crossing it would
    not name the account) and the account's next drop failing: it is refused, naming the account, even under
    ``python -O``."""
    from ledger.engine.trigger_books import TriggerBook

    book = TriggerBook(True)
    book.add(Decimal("100"), "alice")
    with pytest.raises(AssertionError, match="gave 'alice' two triggers on one side of one market"):
        book.add(Decimal("90"), "alice")
    assert list(book.crossed(Decimal("95"))) == ["alice"], "the first trigger stays live"
