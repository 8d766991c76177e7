"""An account's history a page at a time (``ledger.reports.history_pages``) has the whole replay's rows.

The whole history (``ledger history``, a narrow replay of the whole log) is
the reference: for every account of generated histories (fills, marks and
crashes, funding, isolated margin, liquidations, bankruptcies and
deleveraging under every loss-allocation policy) and of the worked examples,
at the head and at earlier points, every page equals the same slice of the
whole history, the plan counts its rows, and every row the equity chart draws
is the whole history's row. Account snapshots are forced often, so pages start
from them.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import InvalidBatch, Ledger
from ledger.domain.codec import decode_line
from ledger.domain.events import Deposit, Mark
from ledger.replay import account as account_replay
from ledger.reports import history_pages
from tests.conftest import VECTORS
from tests.support.builders import deposit, listed, mark, trade
from tests.support.histories import ACCOUNTS, MARKETS, activations, header, policies, steps, to_event

VECTOR_NAMES = sorted(p.name[: -len(".jsonl")] for p in VECTORS.glob("*.jsonl"))


@pytest.fixture(autouse=True)
def frequent_account_snapshots(monkeypatch):
    monkeypatch.setattr(account_replay, "ACCOUNT_SNAPSHOT_EVERY", 3)


folded_whole: list[bool] = []
"""Per plan checked: whether its whole log was folded (the narrow path must be the common one: tested below)."""


def assert_pages_agree(ledger: Ledger, account: str, upto: int, sizes=(1, 4, 50), samples: int = 3) -> None:
    """Every page (of each size) of ``account`` up to event ``upto`` equals the whole history's slice, and the chart's
    rows are whole-history rows, the account's own rows among them."""
    store = ledger.reader()
    whole = [row for row in ledger.history(account) if row["seq"] <= upto]
    plan = history_pages.plan_history(store, history_pages.StreamSeqs(), account, upto)
    assert plan.total == len(whole), f"{account} up to #{upto}"
    folded_whole.append(plan.marked_from >= upto)
    for size in sizes:
        for offset in range(0, len(whole) + 1, size):
            page = history_pages.history_page(store, plan, offset, size)
            assert page == whole[offset:offset + size], f"{account} up to #{upto}: rows {offset}..{offset + size}"
    drawn = history_pages.equity_rows(store, plan, marks=samples)
    by_seq = {row["seq"]: row for row in whole}
    assert [row for row in drawn if by_seq.get(row["seq"]) != row] == []
    assert {row["seq"] for row in drawn} >= set(plan.own), "every own row is drawn"
    assert [row["seq"] for row in drawn] == sorted(row["seq"] for row in drawn)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(activation=activations, history=st.lists(steps(), min_size=5, max_size=60), policy=policies,
       marked=st.booleans(), cut=st.floats(0.3, 1.0))
def test_pages_equal_the_whole_history_on_generated_histories(activation, history, policy, marked, cut):
    """For every account, at the head and at an earlier point, pages of 1, 4 and 50 rows equal the whole history's
    rows, and the chart's rows are whole-history rows; with both markets marked before any fill (pages fold only
    the account's rows), or not (a position valued at a last trade: the log's prefix is folded whole)."""
    ledger = Ledger.open("memory://")
    ledger.init()
    opening = header(activation, policy)
    deposits = next(n for n, event in enumerate(opening) if isinstance(event, Deposit))
    first_marks = [mark(str(base), market=m, t=1, id=f"k0-{m}") for m, (_, base) in MARKETS.items()] if marked else []
    ledger.append(opening[:deposits] + first_marks + opening[deposits:])
    for n, step in enumerate(history):
        with contextlib.suppress(InvalidBatch):  # a refused record stores nothing, as at ingest
            ledger.append([to_event(step, n)])
    head = ledger.head_seq()
    for account in ACCOUNTS:
        if ledger.has_account(account):
            for upto in sorted({head, max(1, int(head * cut))}):
                assert_pages_agree(ledger, account, upto)


def test_the_narrow_path_was_the_common_one():
    """The generated histories above checked mostly plans that fold only the account's rows (run after them)."""
    if not folded_whole:
        pytest.skip("run with the generated histories")
    assert folded_whole.count(False) > len(folded_whole) // 3


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_pages_equal_the_whole_history_on_the_worked_examples(ledger, name):
    """On each backend, every account of each worked example: every page equals the whole history's slice."""
    for line in (VECTORS / f"{name}.jsonl").read_text().splitlines():
        ledger.append([decode_line(line)])
    for account in sorted(ledger.state().accounts):
        assert_pages_agree(ledger, account, ledger.head_seq(), sizes=(1, 3))


def test_a_position_valued_at_another_accounts_last_trade_before_the_first_mark(ledger):
    """Before a market's first mark a position is valued at its last trade, whoever traded: alice's deposit after
    bob's fill at 61,000 shows her long at 61,000 (not at her own 60,000), and after the first mark at the mark."""
    ledger.append([listed(), deposit("alice", "10000", t=1), deposit("bob", "10000", t=1),
                   trade("alice", "buy", "0.1", "60000", t=2), trade("bob", "buy", "0.1", "61000", t=3),
                   deposit("alice", "1", t=4), mark("59000", t=5), deposit("alice", "1", t=6)])
    rows = {row["id"]: row for row in ledger.history("alice")}
    assert Decimal(rows["d-alice-4"]["equity"]) == 10101 and Decimal(rows["d-alice-6"]["equity"]) == 9902
    assert_pages_agree(ledger, "alice", ledger.head_seq())
    assert folded_whole[-1] is False, "after the first mark, pages fold only alice's rows"


def test_stream_numbers_grow_with_the_log_and_a_page_reads_only_its_rows(ledger):
    """A stream's sequence numbers are read once and kept while the log does not pass them, then extended with the
    rows appended since."""
    lines = (VECTORS / f"{VECTOR_NAMES[0]}.jsonl").read_text().splitlines()
    for line in lines:
        ledger.append([decode_line(line)])
    store, seqs = ledger.reader(), history_pages.StreamSeqs()
    market = store.stream_names("market:")[0]
    before = list(seqs.upto(store, market, ledger.head_seq()))
    assert before == store.stream_seqs(market)
    first = seqs.upto(store, market, ledger.head_seq())
    assert first is seqs.upto(store, market, ledger.head_seq()), "kept, not read again"
    last = store.last_in_stream(market).event()
    ledger.append([Mark(id="late-mark", at=last.at + timedelta(seconds=1), market=last.market, price=last.price)])
    grown = seqs.upto(store, market, ledger.head_seq())
    assert grown[:len(before)] == before and grown[-1] == ledger.head_seq()
