"""The liquidation index through funding: payments taken from each payer's reserve, re-indexing only who used it up.

A funding payment lowers the payer's buffer with no price moving. The index
computes triggers as if a reserve of funding (``FUNDING_RESERVE`` of the
notional) were already paid, so payments within it leave the triggers a
superset; these cases put an account within a few dollars of distress and
check that the index decides exactly what a full scan decides, at the funding
and at a later mark, whether the reserve holds or is used up.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger.engine import candidates
from ledger.engine.candidates import FUNDING_RESERVE, LiquidationIndex
from tests.support.builders import deposit, funding, listed, mark, rules, trade
from tests.support.histories import fold_one_by_one

FLAT = {"BTC-PERP": {"maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"}}


def _opening(cash: str) -> list:
    """alice long 1 BTC at 10,000 with ``cash`` of margin, bob the short with plenty."""
    return [listed(t=0), rules(version="partial-v1", fee="0.002", buffer="0.25", markets=FLAT, t=0.5),
            deposit("alice", cash, t=1, id="d-a"), deposit("bob", "100000", t=1, id="d-b"),
            trade("alice", "buy", "1", "10000", t=2, id="t-a"), trade("bob", "sell", "1", "10000", t=2, id="t-b"),
            mark("10000", t=3, id="k-0")]


CASES = {
    # buffer 5.73 after the mark; the funding (7.88) distresses alice, and fits in her reserve (9.86)
    "a funding within the reserve distresses": ("200", [mark("9855", t=4, id="k-1"), funding("0.0008", t=5, id="f-1")]),
    # buffer 250; 9 paid from a reserve of 10, then a mark the triggers before the funding would not have named
    "a later mark after a funding within the reserve": ("300", [funding("0.0009", t=4, id="f-1"),
                                                                 mark("9757", t=5, id="k-1")]),
    # 9 + 9 paid: the second payment uses the reserve up and re-indexes alice; then the same kind of mark
    "the reserve used up": ("300", [funding("0.0009", t=4, id="f-1"), funding("0.0009", t=5, id="f-2"),
                                    mark("9748", t=6, id="k-1")]),
}


def _run(events, index):
    return [e for e in fold_one_by_one(events, index, refused_ok=False)[1] if e.TYPE in ("liquidation", "bankruptcy")]


@pytest.mark.parametrize("case", list(CASES))
def test_the_index_decides_as_a_full_scan_through_funding(case, monkeypatch):
    """Through funding the liquidation index decides exactly as a full scan, re-indexing only a payer whose reserve is used up."""
    cash, later = CASES[case]
    events = _opening(cash) + later
    scanned = _run(events, None)
    assert [e.account for e in scanned][:1] == ["alice"], "the case distresses alice (not a vacuous comparison)"
    reindexed = []
    original = LiquidationIndex._triggers

    def counting(self, state, account):
        reindexed.append((state.last_event_id, account))
        return original(self, state, account)

    monkeypatch.setattr(LiquidationIndex, "_triggers", counting)
    assert _run(events, LiquidationIndex()) == scanned
    at_funding = [account for event, account in reindexed if event.startswith("f-")]
    if case == "the reserve used up":
        assert at_funding == ["alice"], "the second payment used the reserve up: alice alone is re-indexed"
    elif case == "a later mark after a funding within the reserve":
        assert at_funding == [], "a payment within the reserve re-indexes nobody"


def test_without_the_reserve_the_stale_triggers_would_miss_the_account(monkeypatch):
    """The reserve is what makes the second case right: with none (and still no re-index within it) alice is missed."""
    monkeypatch.setattr(candidates, "FUNDING_RESERVE", Decimal(0))
    monkeypatch.setattr(LiquidationIndex, "_reserve_spent", lambda self, state, funding, price: [])
    cash, later = CASES["a later mark after a funding within the reserve"]
    assert _run(_opening(cash) + later, LiquidationIndex()) != _run(_opening(cash) + later, None)
    assert FUNDING_RESERVE > 0
