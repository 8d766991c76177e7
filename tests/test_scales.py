"""Display scales: tables print each asset's money and each market's quantities at one scale; JSON and CSV stay exact."""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal

import pytest

from ledger.domain.money import arithmetic
from ledger.domain.scales import EXACT, UNLISTED_ASSET_PLACES, parse_scale_overrides, scales_of
from tests.support.cli import run

D = Decimal

MARKETS = [("BTC-PERP", "USD", D("0.001")), ("NKY-PERP", "JPY", D("0.50")), ("ETH-BTC", "BTC", D("10"))]


def test_where_each_scale_comes_from():
    """Money shows at its asset's ISO 4217 minor unit (else 8 places), quantities at the lot's, prices at the settle asset's.
    An override replaces a scale, and a market without its own override follows its settle asset's."""
    scales = scales_of(MARKETS)
    assert [scales.money_places(a) for a in ("USD", "JPY", "BTC", "EUR")] == [2, 0, UNLISTED_ASSET_PLACES, 2], \
        "ISO 4217's minor unit; an asset it does not list (crypto) at 8"
    assert [scales.quantity_places(m) for m in ("BTC-PERP", "NKY-PERP", "ETH-BTC")] == [3, 1, 0], "the lot's places"
    assert scales.price_places("NKY-PERP") == 0 and scales.price_places("ETH-BTC") == 8, "prices: the settle asset's"
    overridden = scales_of(MARKETS, {"USD": 4, "BTC-PERP": 1, "BTC": 6})
    assert overridden.money_places("USD") == 4 and overridden.price_places("BTC-PERP") == 1
    assert overridden.price_places("ETH-BTC") == 6, "a market without its own override follows its settle asset's"


def test_display_rounding_is_half_even_grouped_signed_and_never_changes_the_figure():
    """Display rounds half-even, groups thousands, keeps the sign, never trips the exact context, and leaves figures as held."""
    scales = scales_of(MARKETS)
    assert scales.money("1234567.125", "USD") == "1,234,567.12" and scales.money("0.135", "USD") == "0.14"
    assert scales.money("-0.001", "USD") == "-0.00", "a balance that is not zero never reads as a plain zero"
    assert scales.quantity("0.5", "BTC-PERP") == "0.500" and scales.quantity("120", "ETH-BTC") == "120"
    assert scales.money("1500.4", "JPY") == "1,500" and scales.money("0.00012345", "BTC") == "0.00012345"
    assert scales.price("10956.17529", "BTC-PERP", "ROUND_FLOOR") == "10,956.17"
    assert scales.price("9036.144571", "BTC-PERP", "ROUND_CEILING") == "9,036.15"
    with arithmetic():  # the ledger's exact context traps Inexact; display rounding must not trip it
        assert scales.market_money(D("90.731752"), "BTC-PERP") == "90.73"
    assert EXACT.money(D("90.731752000"), "USD") == "90.731752000", "the exact form is the figure as held"


@pytest.mark.parametrize("bad", ["USD", "USD=", "=2", "USD=-1", "USD=two", "USD=19"])
def test_a_bad_scale_is_refused_naming_it(bad):
    """A malformed scale override is refused, quoting it."""
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        parse_scale_overrides(bad)


def test_overrides_from_the_environment_form():
    """Scale overrides in the environment's form are read whether separated by commas or spaces, or given as a list."""
    assert parse_scale_overrides("USD=2, BTC=8 BTC-PERP=1") == {"USD": 2, "BTC": 8, "BTC-PERP": 1}
    assert parse_scale_overrides(["USD=0", "JPY=2"]) == {"USD": 0, "JPY": 2}


HISTORY = [
    {"type": "market_listed", "id": "m-btc", "at": "2024-08-05T00:00:00Z", "market": "BTC-PERP", "settle_asset": "USD",
     "lot_size": "0.001"},
    {"type": "market_listed", "id": "m-nky", "at": "2024-08-05T00:00:00Z", "market": "NKY-PERP", "settle_asset": "JPY",
     "lot_size": "0.5"},
    {"type": "rules_activated", "id": "r1", "at": "2024-08-05T00:01:00Z", "version": "partial-v1", "params": {
        "liquidation_fee_rate": "0.002", "target_buffer": "0.25", "markets": {
            "BTC-PERP": {"maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"},
            "NKY-PERP": {"maintenance_margin_rate": "0.01", "initial_margin_rate": "0.02"}}}},
    {"type": "deposit", "id": "d1", "at": "2024-08-05T00:02:00Z", "account": "alice", "asset": "USD", "amount": "10000"},
    {"type": "deposit", "id": "d2", "at": "2024-08-05T00:02:00Z", "account": "kenji", "asset": "JPY", "amount": "5000000"},
    {"type": "trade", "id": "t1", "at": "2024-08-05T00:03:00Z", "account": "alice", "market": "BTC-PERP", "side": "buy",
     "qty": "0.5", "price": "60000", "fee": "1.2345"},
    {"type": "trade", "id": "t2", "at": "2024-08-05T00:03:00Z", "account": "kenji", "market": "NKY-PERP", "side": "sell",
     "qty": "1.5", "price": "38000", "fee": "11.4"},
    {"type": "mark", "id": "k1", "at": "2024-08-05T00:04:00Z", "market": "BTC-PERP", "price": "58200"},
    {"type": "mark", "id": "k2", "at": "2024-08-05T00:04:00Z", "market": "NKY-PERP", "price": "38123.5"},
]


@pytest.fixture
def scaled(sqlite_url, tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in HISTORY))
    assert run(sqlite_url, "init")[0] == 0 and run(sqlite_url, "ingest", str(path))[0] == 0
    return sqlite_url


def _figures(text: str) -> list[str]:
    return re.findall(r"-?\d[\d,]*\.?\d*", text)


def _places(figure: str) -> int:
    return len(figure.split(".")[1]) if "." in figure else 0


def test_the_balances_table_prints_every_figure_of_an_asset_at_its_scale(scaled):
    """The balances table prints money at its asset's places and sizes at the lot's, while the JSON keeps the exact figures."""
    code, out, _ = run(scaled, "balances")
    assert code == 0
    rows = {tuple(line.split()[:4]): line for line in out.splitlines() if line.strip().startswith(("user", "system"))}
    assert rows[("user", "alice", "cash", "USD")].split()[-1] == "9,998.77", "10,000 − 1.2345 at USD's 2 places"
    assert rows[("user", "kenji", "cash", "JPY")].split()[-1] == "4,999,989", "5,000,000 − 11.4 at JPY's 0 places"
    alice = rows[("user", "alice", "position", "BTC-PERP")]
    assert alice.split()[4] == "0.500", "the size at the lot's 3 places"
    assert {_places(f) for f in _figures(alice.split("entry", 1)[1])} == {2}, alice
    kenji = rows[("user", "kenji", "position", "NKY-PERP")]
    assert kenji.split()[4] == "-1.5"
    assert {_places(f) for f in _figures(kenji.split("entry", 1)[1])} == {0}, kenji
    assert "mark 38,124 " in kenji, "38,123.5 at JPY's 0 places, half-even"
    code, out, _ = run(scaled, "balances", "--format", "json")  # JSON: the exact figures, untouched
    report = json.loads(out)
    assert report["accounts"]["alice"]["cash"]["USD"] == "9998.7655"
    assert report["accounts"]["kenji"]["positions"]["NKY-PERP"]["mark_price"] == "38123.5"


def test_csv_stays_exact_so_a_statement_reconciles_back(scaled, tmp_path):
    """Balances in CSV stay exact, so the CSV reconciles back as a statement with no tolerance."""
    code, out, _ = run(scaled, "balances", "--format", "csv")
    assert code == 0
    lines = {(r["account"], r["asset"]): r["balance"] for r in csv.DictReader(io.StringIO(out))}
    assert lines[("alice", "USD")] == "9998.7655" and lines[("kenji", "JPY")] == "4999988.6"
    statement = tmp_path / "statement.csv"
    statement.write_text(out)
    assert run(scaled, "reconcile", str(statement))[0] == 0, "the exact CSV reconciles with no tolerance"


def test_overrides_from_the_option_and_the_environment(scaled, monkeypatch):
    """Scale overrides come from ``--scale`` and from ``LEDGER_SCALES``, and a malformed one exits 2 quoting it."""
    code, out, _ = run(scaled, "--scale", "USD=4", "--scale", "NKY-PERP=1", "balances", "--positions")
    assert code == 0
    alice = next(line for line in out.splitlines() if line.strip().startswith("alice"))
    kenji = next(line for line in out.splitlines() if line.strip().startswith("kenji"))
    assert "60,000.0000" in alice and "58,200.0000" in alice, "USD at 4 places, BTC-PERP's prices following it"
    assert "38,000.0" in kenji and "38,123.5" in kenji, "NKY-PERP's prices at its own 1 place"
    monkeypatch.setenv("LEDGER_SCALES", "JPY=2")
    code, out, _ = run(scaled, "account", "kenji")
    assert code == 0 and "4,999,988.60" in out
    code, _, err = run(scaled, "--scale", "USD=lots", "balances")
    assert code == 2 and "'USD=lots'" in err


def test_history_liquidations_and_explain_tables_share_the_scales(sqlite_url, tmp_path):
    """The liquidations and history tables print figures at the same scales, while their JSON keeps the exact figures."""
    from tests.conftest import VECTORS

    assert run(sqlite_url, "init")[0] == 0
    assert run(sqlite_url, "ingest", str(VECTORS / "partial-one-position.jsonl"))[0] == 0
    code, out, _ = run(sqlite_url, "liquidations")
    assert code == 0
    row = next(line for line in out.splitlines() if "k1/liq/alice" in line).split()
    qty, price, penalty = row[5], row[6], row[7]
    assert (qty, price, penalty) == ("0.332", "58,200.00", "38.64"), row
    code, out, _ = run(sqlite_url, "liquidations", "--format", "json")
    exact = json.loads(out)[0]
    assert exact["qty"] == "0.332" and exact["price"] == "58200" and exact["penalty"] == "38.644800"
    code, out, _ = run(sqlite_url, "history", "alice")
    assert code == 0 and "USD 1,000.00" in out and "BTC-PERP 0.500" in out
    assert "@ 58,200.00 penalty 38.64" in out
    code, out, _ = run(sqlite_url, "history", "alice", "--format", "json")
    assert any(r["what"].endswith("penalty 38.644800") for r in json.loads(out)), "JSON history keeps exact figures"


def test_whatif_tables_show_money_at_its_scale_and_counts_as_counts(sqlite_url):
    """The whatif table shows money at its asset's scale and counts as plain counts, matching the exact JSON figures."""
    from tests.conftest import ROOT, VECTORS

    assert run(sqlite_url, "init")[0] == 0
    assert run(sqlite_url, "ingest", str(VECTORS / "partial-one-position.jsonl"))[0] == 0
    args = ["whatif", "--rules", "full-v1", "--params", str(ROOT / "examples" / "params" / "full-v1.json")]
    code, out, _ = run(sqlite_url, *args, "--format", "json")
    assert code == 0
    exact = json.loads(out)["summary"]["USD"]
    code, out, _ = run(sqlite_url, *args)
    assert code == 0
    cells = {line.split()[1]: line.split()[2:5] for line in out.splitlines() if line.strip().startswith("USD ")}
    assert cells["liquidations"] == [exact["liquidations"][k] for k in ("actual", "alternative", "difference")]
    scales = scales_of(MARKETS)
    assert cells["penalties"] == [scales.money(exact["penalties"][k], "USD") for k in ("actual", "alternative", "difference")]
    assert all(_places(figure) == 2 for figure in cells["notional_liquidated"] + cells["insurance_fund_end"])
    alice = next(line for line in out.splitlines() if line.strip().startswith("alice"))
    assert re.search(r"USD -?[\d,]+\.\d\d\b", alice), alice
