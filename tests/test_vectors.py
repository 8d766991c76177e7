"""The shared worked examples (``../shared/vectors``), ingested on each backend.

Each ``NAME.jsonl`` is ingested whole; balances, liquidations, the insurance
fund and bankruptcies must equal ``NAME.expected.json``, compared as decimals.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from ledger.reports import balances as reports
from ledger.reports import records
from tests.conftest import VECTORS
from tests.support.values import decimals

NAMES = sorted(p.name[: -len(".jsonl")] for p in VECTORS.glob("*.jsonl")) if VECTORS.is_dir() else []


def test_the_shared_vectors_are_present():
    """The shared worked examples are present: at least six vectors."""
    assert len(NAMES) >= 6, f"expected the worked examples in {VECTORS}"


def _as_in(positions: dict, expected_account: dict | None) -> dict:
    """The positions with the fields the worked example lists: the contract only ever adds fields beside them."""
    if expected_account is None:
        return positions
    shown = expected_account["positions"]
    return {market: {k: v for k, v in body.items() if k in shown.get(market, body)} for market, body in positions.items()}


@pytest.mark.parametrize("name", NAMES)
def test_vector_outcome_matches_the_worked_example(ledger, name):
    """Each shared vector, ingested, gives the balances, liquidations, insurance fund and bankruptcies of its worked example."""
    expected = json.loads((VECTORS / f"{name}.expected.json").read_text())
    ledger.ingest_file(VECTORS / f"{name}.jsonl")
    report = reports.balances(ledger.state())
    got_balances = {
        account: {"cash": body["cash"], "positions": _as_in(body["positions"], expected["balances"].get(account)),
                  "equity": body["equity"]}
        for account, body in report["accounts"].items()
    }
    assert decimals(got_balances) == decimals(expected["balances"])
    keys = ("account", "market", "side", "qty", "price", "penalty", "trigger")
    got_liquidations = [
        {k: r[k] for k in keys} for r in (records.liquidation_record(row, e) for row, e in ledger.liquidations())
    ]
    assert decimals(got_liquidations) == decimals(expected["liquidations"])
    assert Decimal(report["system"]["insurance_fund"].get("USD", "0")) == Decimal(expected["insurance_fund"])
    got_bankruptcies = [e.account for _, e in ledger.engine_events() if e.TYPE == "bankruptcy"]
    assert got_bankruptcies == [b["account"] if isinstance(b, dict) else b for b in expected["bankruptcies"]]
