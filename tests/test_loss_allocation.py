"""Loss allocation through the ledger: a bankruptcy's residual is auto-deleveraged, recorded, replayed and audited.

The issue's worked figures (issue 25, §5) as a history: market X (lot 0.1,
USD); an earlier liquidation in market Y leaves 20 in the insurance fund; B,
long 10 @ 120 with 150 cash, is closed whole at the mark 100 by full-v1 with
no fee: deficit 50, the fund covers 20, and R = 30 goes to the policy in force.
"""

from __future__ import annotations

from decimal import Decimal

from ledger.domain import events as ev
from tests.support.adl import MARKETS, history
from tests.support.builders import deposit, listed, loss_allocation, mark, rules, trade

D = Decimal


def run(ledger, events):
    ledger.append(events)
    return ledger


def deleverages(ledger) -> list[ev.AutoDeleverage]:
    return [e for _, e in ledger.engine_events(types=["auto_deleverage"])]


def test_ranked_with_a_fund_of_20_deleverages_s4_and_s2_and_the_books_balance(ledger):
    """R = 30, h = 3: S4 closes 4 (haircut 12) and S2 6 (18), in that order; the bankruptcy records the fund's 20 and
    ADL's 30 and socializes nothing; S4 ends flat with cash 18, S2 flat with 72; the audit re-derives it all."""
    run(ledger, history(loss_allocation("adl-ranked-v1")))
    [(_, bankruptcy)] = ledger.engine_events(types=["bankruptcy"])
    assert (bankruptcy.deficit, bankruptcy.insurance_covered, bankruptcy.adl_covered, bankruptcy.socialized_loss) == (
        D(50), D(20), D(30), D(0))
    [adl] = deleverages(ledger)
    assert [(f.account, f.qty, f.haircut, f.side, f.rank) for f in adl.fills] == [
        ("S4", D("4.0"), D(12), "buy", "1"), ("S2", D("6.0"), D(18), "buy", "2")]
    assert (adl.residual, adl.closed, adl.mark, adl.unfilled, adl.socialized) == (D(30), D(10), D(100), D(0), D(0))
    state = ledger.state()
    for name, cash in (("S4", "18"), ("S2", "72")):
        assert state.accounts[name].cash["USD"] == D(cash) and state.accounts[name].positions["X"].size == 0, name
    assert state.system["socialized_loss"].get("USD", D(0)) == 0 and state.system["insurance_fund"]["USD"] == 0
    report = ledger.audit()
    assert report.ok, report.discrepancies
    for name in ("S4", "S2", "S1", "B"):  # one account's replay reads its fills from its markets' ADL streams
        assert ledger.account_balances(name)["accounts"][name] == ledger.balances(account=name)["accounts"][name], name


def test_without_a_policy_the_residual_is_socialized_as_before(ledger):
    """Before any loss-allocation activation the residual is a socialized loss and nobody is deleveraged."""
    run(ledger, history(None))
    [(_, bankruptcy)] = ledger.engine_events(types=["bankruptcy"])
    assert (bankruptcy.insurance_covered, bankruptcy.adl_covered, bankruptcy.socialized_loss) == (D(20), D(0), D(30))
    assert deleverages(ledger) == [] and ledger.audit().ok


def test_socialize_v1_is_exactly_the_booking_before_any_activation(ledger):
    """socialize-v1, activated, books the residual as a socialized loss: the same events as no activation at all."""
    run(ledger, history(loss_allocation("socialize-v1")))
    [(_, bankruptcy)] = ledger.engine_events(types=["bankruptcy"])
    assert (bankruptcy.adl_covered, bankruptcy.socialized_loss) == (D(0), D(30)) and deleverages(ledger) == []


def test_pro_rata_by_profit_caps_s1_and_leaves_the_losing_short_out(ledger):
    """R = 30: S3 (a losing short) is not eligible; S1 pays its cap 12 (closes 4), S2 13.5 (4.5), S4 4.5 (1.5)."""
    run(ledger, history(loss_allocation("adl-prorata-v1", weight="profit")))
    [adl] = deleverages(ledger)
    assert [(f.account, f.qty, f.haircut) for f in adl.fills] == [
        ("S2", D("4.5"), D("13.5")), ("S1", D("4.0"), D(12)), ("S4", D("1.5"), D("4.5"))]
    assert ledger.audit().ok


def test_an_edited_fill_is_caught_by_the_audit(ledger):
    """The audit re-derives every allocation: a stored fill that differs from what the policy decides is named."""
    from tests.support.tampering import tamper

    run(ledger, history(loss_allocation("adl-ranked-v1")))
    [adl] = deleverages(ledger)
    tamper(ledger.store, f"UPDATE events SET payload = replace(payload, '\"haircut\":\"12.00000000\"', "
                         f"'\"haircut\":\"11.00000000\"') WHERE event_id = '{adl.id}'")
    report = ledger.audit()
    assert not report.ok
    assert any(d.event_id == adl.id and d.kind in ("liquidation_mismatch", "hash_chain") for d in report.discrepancies)


def test_history_shows_a_fill_as_its_own_row(ledger):
    """A deleveraged account's history has the fill as an auto-deleverage row, never as a trade or a liquidation."""
    run(ledger, history(loss_allocation("adl-ranked-v1")))
    rows = ledger.history("S4")
    [row] = [r for r in rows if r["type"] == "auto_deleverage"]
    assert "auto-deleverage (adl-ranked-v1): buy 4" in row["what"] and "haircut 12" in row["what"]


def test_deleverages_explain_and_rules_list_show_the_allocation(db_url, tmp_path):
    """`ledger deleverages` prints one row per fill (haircut, ADL price, bankruptcy, rank); `explain` on the ADL id
    prints the residual, h, every counterparty with the most it could take, and each fill; `rules list` shows the
    policies and the one in force."""
    import json

    from ledger import Ledger
    from tests.support.cli import ok

    with Ledger.open(db_url) as ledger:
        ledger.init()
        run(ledger, history(loss_allocation("adl-ranked-v1")))
        [adl] = deleverages(ledger)
    rows = json.loads(ok(db_url, "deleverages", "--format", "json"))
    assert [(r["account"], r["qty"], r["haircut"], r["adl_price"], r["rank"]) for r in rows] == [
        ("S4", "4.0", "12.00000000", "103", "1"), ("S2", "6.0", "18.00000000", "103", "2")]
    assert all(r["bankruptcy"] == adl.bankruptcy for r in rows)
    assert [r["account"] for r in json.loads(ok(db_url, "deleverages", "--account", "S2", "--format", "json"))] == ["S2"]
    table = ok(db_url, "deleverages")
    assert "S4" in table and "103" in table
    info = json.loads(ok(db_url, "explain", adl.id, "--format", "json"))
    assert info["figures"]["haircut_per_unit"] == "3" and info["bankruptcy"]["account"] == "B"
    assert {c["account"]: c["most"] for c in info["counterparties"]} == {"S1": "60.0", "S2": "30.0", "S3": "23.3",
                                                                          "S4": "10.0"}
    text = ok(db_url, "explain", adl.id)
    assert "h = R / Q = 3 per unit" in text and "#1 S4 (cross): buy 4.0" in text
    rules = json.loads(ok(db_url, "rules", "list", "--format", "json"))["loss_allocation"]
    assert rules["in_force"] == "adl-ranked-v1" and {p["version"] for p in rules["policies"]} == {
        "socialize-v1", "adl-ranked-v1", "adl-prorata-v1"}


def test_whatif_sets_the_policies_side_by_side_on_the_same_crash(db_url, tmp_path):
    """On a history decided without any policy, `whatif --loss-allocation` replays the same rules under each policy:
    socialize-v1 socializes the 30, ranked and pro-rata by profit place it all, and each names its fills and whom they
    hit; a policy's bad params are refused naming the file and the key (exit 2)."""
    import json

    from ledger import Ledger
    from tests.support.cli import ok
    from tests.support.cli import run as run_cli

    with Ledger.open(db_url) as ledger:
        ledger.init()
        run(ledger, history(None))
    ranked, prorata, bad = tmp_path / "ranked.json", tmp_path / "prorata.json", tmp_path / "bad.json"
    ranked.write_text('{"cash_quantum": "0.00000001"}')
    prorata.write_text('{"cash_quantum": "0.01", "weight": "profit"}')
    bad.write_text('{"cash_quantum": "0.05"}')
    args = ["whatif", *["--rules", "full-v1"] * 3, "--loss-allocation", "socialize-v1", "--loss-allocation",
            "adl-ranked-v1", "--loss-allocation", "adl-prorata-v1", "--loss-params", str(tmp_path / "none.json"),
            "--loss-params", str(ranked), "--loss-params", str(prorata), "--format", "json"]
    (tmp_path / "none.json").write_text("{}")
    data = json.loads(ok(db_url, *args))
    assert data["versions"] == ["full-v1/socialize-v1", "full-v1/adl-ranked-v1", "full-v1/adl-prorata-v1"]
    figures = data["loss_allocation"]
    assert figures["actual"]["socialized_loss"]["USD"] == "30"
    assert figures["full-v1/socialize-v1"]["socialized_loss"]["USD"] == "30"
    assert D(figures["full-v1/adl-ranked-v1"]["socialized_loss"]["USD"]) == 0
    assert figures["full-v1/adl-ranked-v1"]["deleveraging"]["USD"] == {
        "adl_fills": "2", "adl_notional": "1000.0", "accounts_hit": "2", "losing_positions_hit": "0",
        "largest_haircut_share": "0.600000"}
    assert figures["full-v1/adl-prorata-v1"]["deleveraging"]["USD"]["adl_fills"] == "3"
    code, _, err = run_cli(db_url, "whatif", "--rules", "full-v1", "--loss-allocation", "adl-ranked-v1",
                           "--loss-params", str(bad))
    assert code == 2 and str(bad) in err and "cash_quantum" in err
    assert "Loss allocation" in ok(db_url, *args[:-2])


def test_balances_and_account_show_each_positions_adl_quantile_under_the_ranked_policy(ledger):
    """Under adl-ranked-v1, `balances` and `account` give each position its ADL quantile (ranked on its side as the
    queue would take it: S4 1, S2 3, S1 4, S3 5 before the crash); without any policy there is no such field."""
    events = [e for e in history(loss_allocation("adl-ranked-v1")) if getattr(e, "account", None) != "B"]
    ledger.append([*events[:-1], deposit("L", "1000", t=3.6), trade("L", "buy", "1", "120", market="X", t=3.7),
                   events[-1]])  # the shorts at the mark 100, with no bankruptcy to allocate
    report = ledger.balances()
    quantiles = {name: report["accounts"][name]["positions"]["X"]["adl_quantile"] for name in ("S1", "S2", "S3", "S4")}
    assert quantiles == {"S4": 1, "S2": 3, "S1": 4, "S3": 5}, "the issue's figures, before any fill"
    assert ledger.account_balances("S2")["accounts"]["S2"]["positions"]["X"]["adl_quantile"] == 3
    assert report["accounts"]["L"]["positions"]["X"]["adl_quantile"] == 5, "the only long: last of its own side"


def test_without_any_policy_the_balances_are_as_before(ledger):
    """A ledger that never activated a loss-allocation policy prints no ADL quantile: its balances are what they were."""
    ledger.append(history(None)[:-2])
    assert all("adl_quantile" not in p for a in ledger.balances()["accounts"].values() for p in a["positions"].values())


def test_a_sweep_crosses_its_grid_with_the_policies_given(db_url, tmp_path):
    """`sweep --loss-allocation P --loss-params F` (repeatable) runs every grid candidate under each policy: the
    rows name the policy and give its fills beside the socialized loss."""
    import json

    from ledger import Ledger
    from tests.support.cli import ok

    with Ledger.open(db_url) as ledger:
        ledger.init()
        run(ledger, history(None))
    grid, ranked, none = tmp_path / "grid.json", tmp_path / "ranked.json", tmp_path / "none.json"
    grid.write_text(json.dumps({"grid": {"liquidation_fee_rate": ["0", "0.001"]}}))
    ranked.write_text('{"cash_quantum": "0.00000001"}')
    none.write_text("{}")
    rows = json.loads(ok(db_url, "sweep", "--rules", "full-v1", "--grid", str(grid), "--workers", "1",
                         "--loss-allocation", "socialize-v1", "--loss-params", str(none),
                         "--loss-allocation", "adl-ranked-v1", "--loss-params", str(ranked), "--format", "json"))
    by = {(r["liquidation_fee_rate"], r["loss_allocation"]): r for r in rows if r["asset"] == "USD"}
    assert set(by) == {("0", "socialize-v1"), ("0", "adl-ranked-v1"), ("0.001", "socialize-v1"),
                       ("0.001", "adl-ranked-v1")}
    assert D(by["0", "socialize-v1"]["socialized_loss"]) == 50 and by["0", "socialize-v1"]["adl_fills"] == "0"  # no fee: no fund
    assert D(by["0", "adl-ranked-v1"]["socialized_loss"]) == 0 and by["0", "adl-ranked-v1"]["adl_fills"] == "2"


def test_an_allocation_of_figures_wider_than_python_s_default_context_audits_exactly(ledger):
    """A deficit of 29 significant digits (11 before the point, 18 after): the residual, the haircut and what is
    socialized are exact, and the audit, which re-decides outside the append's context, derives the same."""
    markets = {"X": MARKETS["X"]}
    ledger.append([
        listed("X", lot="0.1"), rules("full-v1", fee="0", buffer=None, markets=markets), loss_allocation("adl-ranked-v1"),
        deposit("B", "100000000000.000000000000000001", t=1), deposit("S", "10", t=1),
        trade("B", "buy", "100000000", "2100", market="X", t=2), trade("S", "sell", "1", "2200", market="X", t=2),
        mark("100", market="X", t=3),
    ])
    [(_, bankruptcy)] = ledger.engine_events(types=["bankruptcy"])
    from ledger.domain.money import arithmetic

    assert bankruptcy.deficit == D("99999999999.999999999999999999")
    with arithmetic():  # the check itself in the exact context: Python's default one would round this sum
        assert bankruptcy.insurance_covered + bankruptcy.adl_covered + bankruptcy.socialized_loss == bankruptcy.deficit
    assert bankruptcy.adl_covered == D("999.99999999") and bankruptcy.socialized_loss == D("99999999000.000000009999999999")
    report = ledger.audit()
    assert report.ok, report.discrepancies
