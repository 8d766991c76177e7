"""Ingested ids cannot squat the ids of the engine's future decisions (reliability issue, point 5).

The attack: a deposit with the id the engine would give a liquidation
(``MARK/liq/ACCOUNT/MARKET``) was accepted; the mark that had to liquidate that
account could then never be ingested ("reload and retry" forever). Ingested ids
may not contain the engine's marks (``/liq/``, ``/bankruptcy/``), so the two
namespaces are disjoint.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain import events as ev
from tests.support.cli import run

HEADER = [
    {"type": "market_listed", "id": "m-btc", "at": "2024-08-05T00:00:00Z", "market": "BTC-PERP", "settle_asset": "USD", "lot_size": "0.001"},
    {"type": "rules_activated", "id": "r-1", "at": "2024-08-05T00:00:00Z", "version": "partial-v1", "params": {
        "liquidation_fee_rate": "0.002", "target_buffer": "0.25",
        "markets": {"BTC-PERP": {"maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"}}}},
    {"type": "deposit", "id": "d-1", "at": "2024-08-05T00:01:00Z", "account": "alice", "asset": "USD", "amount": "1000"},
    {"type": "trade", "id": "t-1", "at": "2024-08-05T00:02:00Z", "account": "alice", "market": "BTC-PERP", "side": "buy",
     "qty": "0.5", "price": "60000", "fee": "0"},
]
SQUAT = {"type": "deposit", "id": "feed-mark-42/liq/alice/BTC-PERP", "at": "2024-08-05T00:02:30Z", "account": "bob",
         "asset": "USD", "amount": "1"}
CRASH = {"type": "mark", "id": "feed-mark-42", "at": "2024-08-05T00:03:00Z", "market": "BTC-PERP", "price": "58200"}


def lines(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def test_an_id_squatting_a_future_liquidation_is_refused_and_the_mark_still_liquidates(db_url, tmp_path):
    """An ingested id containing ``/liq/`` is refused, so the mark whose liquidation id it squatted still liquidates under it."""
    assert run(db_url, "init")[0] == 0
    assert run(db_url, "ingest", lines(tmp_path / "h.jsonl", HEADER))[0] == 0
    squat = lines(tmp_path / "squat.jsonl", [SQUAT])
    code, _, err = run(db_url, "ingest", squat)
    assert code == 2 and f"{squat}:1: id 'feed-mark-42/liq/alice/BTC-PERP' contains '/liq/'" in err
    code, _, err = run(db_url, "ingest", lines(tmp_path / "crash.jsonl", [CRASH]))
    assert code == 0, err
    liquidations = json.loads(run(db_url, "liquidations", "--format", "json")[1])
    assert [r["id"] for r in liquidations] == ["feed-mark-42/liq/alice/BTC-PERP"]


def test_a_bankruptcy_id_is_reserved_too(db_url, tmp_path):
    """An ingested id containing ``/bankruptcy/`` or ``/adl/`` is refused too, as reserved for the liquidation engine."""
    assert run(db_url, "init")[0] == 0
    assert run(db_url, "ingest", lines(tmp_path / "h.jsonl", HEADER))[0] == 0
    for reserved in ("/bankruptcy/", "/adl/"):
        squat = lines(tmp_path / "squat.jsonl", [{**SQUAT, "id": f"k{reserved}alice/USD"}])
        code, _, err = run(db_url, "ingest", squat)
        assert code == 2 and f"contains '{reserved}', reserved for the liquidation engine" in err


def test_an_account_name_holding_a_separator_is_refused_naming_it(db_url, tmp_path):
    """#27 points 6 and 7: account `a` isolated in `b/USD` and account `a/b` cross in `USD` got one bankruptcy id (the
    whole mark refused on every retry); `x@M` and `system:x` looked like a statement's isolated margin and system
    account. An account name may not hold `/`, `@` or `:`: refused naming the line and the character."""
    assert run(db_url, "init")[0] == 0
    assert run(db_url, "ingest", lines(tmp_path / "h.jsonl", HEADER))[0] == 0
    for name, char in (("a/b", "/"), ("x@BTC-PERP", "@"), ("system:fees", ":")):
        path = lines(tmp_path / "bad.jsonl", [{**HEADER[2], "id": f"d-{char}", "account": name}])
        code, _, err = run(db_url, "ingest", path)
        assert code == 2 and f"{path}:1: account {name!r} contains {char!r}" in err, err


_PIECES = st.text(alphabet="ab/@:-liqnkrupcydt", min_size=1, max_size=12)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_PIECES, st.sampled_from(ev.ENGINE_ID_MARKS), _PIECES, _PIECES), min_size=2, max_size=6))
def test_every_engine_id_names_one_decision(decisions):
    """For any triggers without an engine mark and accounts without a separator (what admission lets in), with any
    market or asset, two different decisions never share an engine id."""
    accepted = {(trigger, mark, account, scope) for trigger, mark, account, scope in decisions
                if not any(m in trigger for m in ev.ENGINE_ID_MARKS)
                and not any(c in account for c in ev.ACCOUNT_NAME_SEPARATORS)}
    ids = [ev.engine_id(*decision) for decision in accepted]
    assert len(set(ids)) == len(ids), sorted(accepted)


def test_an_account_opened_before_the_rule_keeps_working(ledger):
    """An account whose name holds a separator, stored before the rule (a log of an earlier release), still takes
    deposits and withdrawals: the rule refuses new names only, so no one's funds are stuck."""
    from tests.support.builders import deposit, listed, withdrawal

    ledger.store.append([listed(), deposit("desk/alice", "100", t=1)], "2024-08-05T00:01:00.000000Z")  # as stored then
    ledger.append([deposit("desk/alice", "5", t=2), withdrawal("desk/alice", "50", t=3)])
    assert ledger.state().accounts["desk/alice"].cash["USD"] == 55
