"""Loss-allocation policies compared on the same history: what-if worlds of policies alone, the summary in words, a
sweep grid that varies the policy, and the demo's crash that drains the insurance fund.

The worked figures are issue 25's (``tests.support.adl``): deficit 50, the
fund covers 20, and the ranked queue takes S4's 4 (haircut 12) and S2's 6
(haircut 18). The demo's crash history (``examples/make_crash_history.py``)
must drain the fund and make the ranked policy in force deleverage someone.
"""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction

import pytest

from ledger import Ledger
from ledger.reports.summary import comparison_summary
from tests.conftest import ROOT
from tests.support.adl import history
from tests.support.cli import ok, run

D = Decimal
PARAMS = ROOT / "examples" / "params"


@pytest.fixture
def crash(db_url, tmp_path) -> str:
    """The issue's history decided without any policy (the 30 the fund leaves is socialized), on each backend."""
    with Ledger.open(db_url) as ledger:
        ledger.init()
        ledger.append(history(None))
    (tmp_path / "none.json").write_text("{}")
    (tmp_path / "ranked.json").write_text('{"cash_quantum": "0.00000001"}')
    return db_url


def _policies(tmp_path, *names: str) -> list[str]:
    files = {"socialize-v1": "none.json", "adl-ranked-v1": "ranked.json"}
    return [arg for name in names for arg in ("--loss-allocation", name, "--loss-params", str(tmp_path / files[name]))]


def test_policies_alone_are_compared_under_the_rules_in_force(crash, tmp_path):
    """`whatif --loss-allocation P ...` without --rules gives one world per policy under the rules in force, named by
    the policy: each world's deficit is what the fund, ADL and socializing paid; the ranked world pays the issue's
    figures (S2 18, S4 12) and equals the world `--rules full-v1` (the version in force) allocates with it."""
    data = json.loads(ok(crash, "whatif", *_policies(tmp_path, "socialize-v1", "adl-ranked-v1"), "--format", "json"))
    assert data["versions"] == ["socialize-v1", "adl-ranked-v1"]
    worlds = data["loss_allocation"]
    for found in worlds.values():
        assert D(found["deficit"]["USD"]) == 50 and D(found["insurance_fund_used"]["USD"]) == 20
        assert D(found["insurance_fund_used"]["USD"]) + D(found["adl_covered"]["USD"]) + D(
            found["socialized_loss"]["USD"]) == D(found["deficit"]["USD"])
        assert sum((D(p["haircut"]) for p in found["paid_by"]), D(0)) == D(found["adl_covered"]["USD"])
    assert worlds["actual"]["policies"] == ["socialize-v1"] and worlds["adl-ranked-v1"]["policies"] == ["adl-ranked-v1"]
    assert [(p["account"], D(p["haircut"]), D(p["qty"])) for p in worlds["adl-ranked-v1"]["paid_by"]] == [
        ("S2", D(18), D(6)), ("S4", D(12), D(4))]
    assert worlds["socialize-v1"]["paid_by"] == [] and D(worlds["socialize-v1"]["socialized_loss"]["USD"]) == 30
    paired = json.loads(ok(crash, "whatif", "--rules", "full-v1", *_policies(tmp_path, "adl-ranked-v1"), "--format", "json"))
    assert paired["loss_allocation"]["alternative"] == worlds["adl-ranked-v1"]["deleveraging"]
    assert {a["account"] for a in data["accounts"]} >= {"B", "S2", "S4"}, "who paid is among the accounts compared"
    table = ok(crash, "whatif", *_policies(tmp_path, "socialize-v1", "adl-ranked-v1"))
    assert "Who paid" in table and "adl_covered" in table


def test_whatif_needs_rules_or_policies_and_params_only_with_rules(crash, tmp_path):
    """Without --rules and without --loss-allocation there is nothing to compare, and --params without --rules has no
    version to go with: both are usage errors (exit 2) that say what to give."""
    code, _, err = run(crash, "whatif")
    assert code == 2 and "--rules VERSION" in err and "--loss-allocation POLICY" in err
    code, _, err = run(crash, "whatif", *_policies(tmp_path, "adl-ranked-v1"), "--params", str(tmp_path / "none.json"))
    assert code == 2 and "--params goes with --rules" in err


def test_the_summary_in_words_says_what_each_policy_did_to_whom(crash, tmp_path):
    """The summary names, per world, the deficit, the fund's share, the accounts that paid most with their haircuts
    (the issue's S2 18 and S4 12 under the ranked queue) and what was socialized (30 without a policy)."""
    data = json.loads(ok(crash, "whatif", *_policies(tmp_path, "socialize-v1", "adl-ranked-v1"), "--format", "json"))
    words = " ".join(comparison_summary(data))
    assert ("What happened (full-v1; socialize-v1): a deficit of 50.00, of which the insurance fund paid 20.00 and "
            "30.00 was socialized") in words
    assert ("Under adl-ranked-v1: a deficit of 50.00, of which the insurance fund paid 20.00, auto-deleveraging took "
            "30.00 from 2 accounts (most: S2 18.00, S4 12.00) and 0.00 was socialized.") in words
    assert "socialize-v1 and adl-ranked-v1 would have made the same" in words, "the same closes in every world"


def test_a_grid_varies_the_loss_allocation_policy(crash, tmp_path):
    """A grid's `loss_allocation` list (a policy's name, or its version and params) crosses every candidate with each
    policy, exactly as `--loss-allocation` does; a bad entry, or policies given both ways, is refused naming the file
    and the entry (exit 2)."""
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"grid": {"liquidation_fee_rate": ["0", "0.001"], "loss_allocation": [
        "socialize-v1", {"version": "adl-ranked-v1", "params": {"cash_quantum": "0.00000001"}}]}}))
    by_grid = json.loads(ok(crash, "sweep", "--rules", "full-v1", "--grid", str(grid), "--workers", "1", "--format", "json"))
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"grid": {"liquidation_fee_rate": ["0", "0.001"]}}))
    by_option = json.loads(ok(crash, "sweep", "--rules", "full-v1", "--grid", str(plain), "--workers", "1",
                              *_policies(tmp_path, "socialize-v1", "adl-ranked-v1"), "--format", "json"))
    assert by_grid == by_option
    assert {r["loss_allocation"] for r in by_grid} == {"socialize-v1", "adl-ranked-v1"}
    table = ok(crash, "sweep", "--rules", "full-v1", "--grid", str(grid), "--workers", "1")
    assert "loss_allocation" in table and "adl_fills" in table
    for entry, says in ((5, "loss_allocation[1]: expected a policy name"),
                        ({"version": "adl-ranked-v1", "params": {"cash_quantum": "0.05"}}, "loss_allocation[1]"),
                        ({"version": "adl-ranked-v9"}, "unknown loss-allocation policy 'adl-ranked-v9'")):
        grid.write_text(json.dumps({"grid": {"liquidation_fee_rate": ["0"], "loss_allocation": ["socialize-v1", entry]}}))
        code, _, err = run(crash, "sweep", "--rules", "full-v1", "--grid", str(grid), "--workers", "1")
        assert code == 2 and str(grid) in err and says in err, err
    grid.write_text(json.dumps({"grid": {"liquidation_fee_rate": ["0"], "loss_allocation": ["socialize-v1"]}}))
    code, _, err = run(crash, "sweep", "--rules", "full-v1", "--grid", str(grid), "--workers", "1",
                       *_policies(tmp_path, "adl-ranked-v1"))
    assert code == 2 and "not both" in err


@pytest.fixture
def demo(crash_url) -> str:
    """The main job's crash history, ingested (the session's ledger: the test only reads it)."""
    return crash_url


def _terminates(value: Fraction) -> bool:
    rest = value.denominator
    for prime in (2, 5):
        while rest % prime == 0:
            rest //= prime
    return rest == 1


def test_the_demo_crash_drains_the_fund_and_the_ranked_policy_deleverages(demo):
    """The main job's ETH wick leaves bankruptcies the insurance fund cannot cover: the fund ends at zero, the ranked
    policy in force pays the rest from counterparties, and each bankruptcy's deficit is exactly what the fund, ADL
    and socializing paid. Each fill's ADL price is mark + residual / closed at 12 places (some do not terminate)."""
    bankruptcies = json.loads(ok(demo, "bankruptcies", "--format", "json"))
    assert bankruptcies and all(D(b["deficit"]) == D(b["insurance_covered"]) + D(b["adl_covered"]) + D(b["socialized_loss"])
                                for b in bankruptcies)
    assert any(D(b["adl_covered"]) > 0 and D(b["insurance_covered"]) == 0 for b in bankruptcies), "the fund ran dry"
    assert "adl_covered" in ok(demo, "bankruptcies")
    balances = json.loads(ok(demo, "balances", "--format", "json"))
    assert D(balances["system"]["insurance_fund"]["USD"]) == 0
    with Ledger.open(demo) as ledger:
        events = {e.id: e for _, e in ledger.engine_events(types=["auto_deleverage"])}
    fills = json.loads(ok(demo, "deleverages", "--format", "json"))
    assert fills and {f["policy"] for f in fills} == {"adl-ranked-v1"}
    by_id = {b["id"]: b["account"] for b in bankruptcies}
    assert all(f["bankrupt_account"] == by_id[f["bankruptcy"]] for f in fills), "the contract's bankrupt_account"
    exact = []
    for fill in fills:
        event = events[fill["id"]]
        value = Fraction(event.mark) + Fraction(event.residual) / Fraction(event.closed)  # counterparties buy back
        exact.append(value)
        assert abs(Fraction(fill["adl_price"]) - value) <= Fraction(1, 2 * 10**12)
    assert not all(_terminates(v) for v in exact), "a quotient that does not terminate is shown, not refused"
