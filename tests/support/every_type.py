"""A short history holding an event of every type, the engine's included: what the checklist of event types
(``tests/test_event_types.py``) and the snapshot text's tests (``tests/test_json_text.py``) hold each place to."""

from __future__ import annotations

from ledger.domain import events as ev
from ledger.domain.snapshot import dump_state
from ledger.domain.state import LedgerState
from ledger.engine.session import fold_batch
from tests.conftest import at
from tests.support.builders import RATES, deposit, funding, isolated_margin, listed, margin_mode, mark, rules, trade, withdrawal


def one_of_each() -> tuple[LedgerState, list[ev.Event], list[LedgerState]]:
    """A history holding every event type, the engine's included, folded through an engine session; the states
    after each event."""
    ingested = [
        listed(), rules(markets={"BTC-PERP": RATES["BTC-PERP"]}), deposit("alice", "1000"), deposit("bob", "100000"), deposit("carol", "1000"),
        margin_mode("carol"), isolated_margin("carol", "500"),
        trade("alice", "buy", "1", "60000"), trade("bob", "sell", "1.5", "60000"), trade("carol", "buy", "0.5", "60000"),
        mark("60000"), funding("0.0001"), withdrawal("bob", "10", t=4.5),
        ev.LossAllocationActivated(id="la-1", at=at(4.8), version="adl-ranked-v1", params={"cash_quantum": "0.01"}),
        mark("58000", t=5),
    ]
    state, events, states = LedgerState(), [], []
    for event in ingested:
        events += fold_batch(state, [(event.id, event)]).to_append
        states.append(dump_state(state))
    return state, events, states
